//! The embedded default's event log: append-only log files beside the SQLite database, one
//! folder per workspace, written by one thread that groups concurrent appends into one fsync.
//!
//! File layout: an 8-byte magic `SIYUEVT1`, then records `[u32 len][u32 crc32(payload)][payload]`
//! (little-endian). Payload: customer (LEB128), kind (u8), ts_us (i64), received_us (i64), then
//! name, message_id, user_id, anonymous_id, properties, context, each a LEB128 length and UTF-8.
//! Each process appends to files of its own (`<start ms>-<pid>-<n>.seg`, rolled at 256 MiB), so a
//! CLI import next to a running server never interleaves with it. A crash can leave at most a torn
//! record at the end of a file, which readers recognise (length or checksum) and skip.

use async_trait::async_trait;
use siyu_core::{CustomerId, StoreError, WorkspaceId};
use siyu_domain::events::{EventKind, EventStore, EventView, NewEvent, SEALED_PREFIX};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

const MAGIC: &[u8; 8] = b"SIYUEVT1";
const ROLL_BYTES: u64 = 256 << 20;
/// The analytics index snapshot of a workspace, beside its log files.
const SNAPSHOT_FILE: &str = "index.snap";

/// A group of records for one workspace, and whom to tell once it is durable.
struct Append {
    ws: WorkspaceId,
    records: Vec<u8>,
    /// Instead of appending: sync the workspace's open file and let it go (the next append opens a
    /// new one), so that no file this process appends to is rewritten under it.
    close: bool,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// The event log files of a data directory.
pub struct LogFiles {
    dir: PathBuf,
    appends: mpsc::Sender<Append>,
}

impl LogFiles {
    /// Opens (creating) the log under `dir` and starts its writer thread.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        crate::private_files::create_dir(dir).map_err(|e| io_err(dir, e))?;
        crate::private_files::tighten_tree(dir).map_err(|e| io_err(dir, e))?;
        let (appends, queue) = mpsc::channel::<Append>();
        let writer_dir = dir.to_path_buf();
        std::thread::Builder::new()
            .name("siyu-event-log".into())
            .spawn(move || Writer { dir: writer_dir, files: HashMap::new(), serial: 0 }.run(queue))
            .map_err(|e| StoreError::Backend(format!("cannot start the event log writer: {e}")))?;
        Ok(Self { dir: dir.to_path_buf(), appends })
    }

    fn workspace_dir(&self, ws: WorkspaceId) -> PathBuf {
        self.dir.join(format!("ws-{}", ws.0))
    }

    /// Has the writer sync and let go of the workspace's open file: appends after this go to a new
    /// one, so the files there are now can be rewritten without losing an append.
    async fn close_files(&self, ws: WorkspaceId) -> Result<(), StoreError> {
        self.to_writer(ws, Vec::new(), true).await
    }

    /// Hands `records` (or a close) to the writer thread and waits until it is durable.
    async fn to_writer(&self, ws: WorkspaceId, records: Vec<u8>, close: bool) -> Result<(), StoreError> {
        let (done, durable) = tokio::sync::oneshot::channel();
        self.appends
            .send(Append { ws, records, close, done })
            .map_err(|_| StoreError::Backend("the event log writer has stopped".into()))?;
        match durable.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Backend(format!("event log: {e}"))),
            Err(_) => Err(StoreError::Backend("the event log writer has stopped".into())),
        }
    }
}

/// How much of a snapshot is written before it is flushed to disk.
const SNAPSHOT_CHUNK: usize = 8 << 20;

/// Writes a large file (an analytics snapshot: hundreds of MiB) a chunk at a time, flushing each
/// to disk before the next and resting as long as that took. Written at once, the whole file
/// would sit dirty in the page cache, and the flush at the end would hold every other fsync on
/// the disk (the event log's and SQLite's commits) behind it for seconds.
fn write_paced(file: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    for chunk in bytes.chunks(SNAPSHOT_CHUNK) {
        let started = std::time::Instant::now();
        file.write_all(chunk)?;
        file.sync_data()?;
        std::thread::sleep(started.elapsed());
    }
    Ok(())
}

fn io_err(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Backend(format!("event log {}: {error}", path.display()))
}

struct OpenFile {
    file: std::fs::File,
    len: u64,
}

struct Writer {
    dir: PathBuf,
    files: HashMap<WorkspaceId, OpenFile>,
    serial: u32,
}

impl Writer {
    /// Takes every append waiting, writes them, syncs each touched file once, then acknowledges.
    fn run(mut self, queue: mpsc::Receiver<Append>) {
        while let Ok(first) = queue.recv() {
            let mut group = vec![first];
            while let Ok(more) = queue.try_recv() {
                group.push(more);
                if group.len() >= 1024 {
                    break;
                }
            }
            let mut failed: HashMap<WorkspaceId, String> = HashMap::new();
            let mut touched: Vec<WorkspaceId> = Vec::new();
            for append in &group {
                if failed.contains_key(&append.ws) {
                    continue;
                }
                if append.close {
                    touched.retain(|ws| *ws != append.ws);
                    if let Some(open) = self.files.remove(&append.ws)
                        && let Err(e) = open.file.sync_data()
                    {
                        failed.insert(append.ws, format!("fsync failed: {e}"));
                    }
                    continue;
                }
                if let Err(e) = self.write(append.ws, &append.records) {
                    failed.insert(append.ws, e);
                } else if !touched.contains(&append.ws) {
                    touched.push(append.ws);
                }
            }
            for ws in touched {
                if let Some(open) = self.files.get(&ws)
                    && let Err(e) = open.file.sync_data()
                {
                    failed.insert(ws, format!("fsync failed: {e}"));
                    // A file whose sync failed may have lost pages: never append to it again.
                    self.files.remove(&ws);
                }
            }
            for append in group {
                let result = failed.get(&append.ws).map_or(Ok(()), |e| Err(e.clone()));
                let _ = append.done.send(result);
            }
        }
    }

    fn write(&mut self, ws: WorkspaceId, records: &[u8]) -> Result<(), String> {
        let roll = self.files.get(&ws).is_none_or(|s| s.len + records.len() as u64 > ROLL_BYTES && s.len > 8);
        if roll {
            if let Some(old) = self.files.remove(&ws) {
                old.file.sync_data().map_err(|e| format!("fsync failed: {e}"))?;
            }
            let dir = self.dir.join(format!("ws-{}", ws.0));
            let fresh = !dir.exists();
            crate::private_files::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            if fresh {
                // A log begun by this siyu holds only sealed events: the upgrade at start skips it.
                replace_file(&dir.join(SEALED_MARKER), SEALED_MARKER_TEXT)
                    .map_err(|e| format!("cannot mark {} sealed: {e}", dir.display()))?;
            }
            let started = std::time::SystemTime::UNIX_EPOCH.elapsed().map(|d| d.as_millis()).unwrap_or(0);
            let mut taken = 0;
            let mut file = loop {
                self.serial += 1;
                let path = dir.join(format!("{started:013}-{}-{:06}.seg", std::process::id(), self.serial));
                match crate::private_files::options().create_new(true).append(true).open(&path) {
                    Ok(file) => break file,
                    // Another writer in this process (a second store over the same directory) took
                    // the name in the same millisecond: the next serial.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && taken < 1_000 => taken += 1,
                    Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
                }
            };
            file.write_all(MAGIC).map_err(|e| format!("write failed: {e}"))?;
            // The new name must survive a crash too.
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            self.files.insert(ws, OpenFile { file, len: MAGIC.len() as u64 });
        }
        let open = self.files.get_mut(&ws).expect("opened above");
        if let Err(e) = open.file.write_all(records) {
            // A partial write leaves a torn record that readers skip; start a fresh file next time.
            self.files.remove(&ws);
            return Err(format!("write failed: {e}"));
        }
        open.len += records.len() as u64;
        Ok(())
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Appends one framed record for `event` to `out`.
pub fn encode(out: &mut Vec<u8>, event: &EventView<'_>) {
    let frame = out.len();
    out.extend_from_slice(&[0u8; 8]);
    put_varint(out, event.customer.0 as u64);
    out.push(event.kind.code());
    out.extend_from_slice(&event.ts_us.to_le_bytes());
    out.extend_from_slice(&event.received_us.to_le_bytes());
    for text in [event.name, event.message_id, event.user_id, event.anonymous_id, event.properties, event.context] {
        put_str(out, text);
    }
    let payload_len = (out.len() - frame - 8) as u32;
    let crc = crc32fast::hash(&out[frame + 8..]);
    out[frame..frame + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[frame + 4..frame + 8].copy_from_slice(&crc.to_le_bytes());
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    fn i64(&mut self) -> Option<i64> {
        let bytes = self.bytes.get(self.at..self.at + 8)?;
        self.at += 8;
        Some(i64::from_le_bytes(bytes.try_into().ok()?))
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = self.varint()? as usize;
        let bytes = self.bytes.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        std::str::from_utf8(bytes).ok()
    }
}

fn decode(payload: &[u8]) -> Option<EventView<'_>> {
    let mut c = Cursor { bytes: payload, at: 0 };
    let customer = CustomerId(c.varint()? as i64);
    let kind = EventKind::from_code(*payload.get(c.at)?)?;
    c.at += 1;
    Some(EventView {
        customer,
        kind,
        ts_us: c.i64()?,
        received_us: c.i64()?,
        name: c.str()?,
        message_id: c.str()?,
        user_id: c.str()?,
        anonymous_id: c.str()?,
        properties: c.str()?,
        context: c.str()?,
    })
}

/// Visits the records in `bytes` (a whole file with its magic when `whole`, else the part after
/// a checkpoint); stops at a torn or corrupt record and says so. Returns the count, the end of the
/// last good record, and the problem if any.
fn scan_records(bytes: &[u8], whole: bool, visit: &mut dyn FnMut(EventView<'_>)) -> (u64, usize, Option<String>) {
    let mut at = 0;
    if whole {
        if bytes.get(..8) != Some(MAGIC.as_slice()) {
            return (0, 0, (!bytes.is_empty()).then(|| "not an event log file".to_string()));
        }
        at = 8;
    }
    let mut count = 0;
    while at < bytes.len() {
        let Some(header) = bytes.get(at..at + 8) else { return (count, at, Some(format!("torn header at {at}"))) };
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
            return (count, at, Some(format!("torn record at {at}")));
        };
        if crc32fast::hash(payload) != crc {
            return (count, at, Some(format!("checksum mismatch at {at}")));
        }
        let Some(event) = decode(payload) else { return (count, at, Some(format!("undecodable record at {at}"))) };
        visit(event);
        count += 1;
        at += 8 + len;
    }
    (count, at, None)
}

#[async_trait]
impl EventStore for LogFiles {
    async fn append(&self, ws: WorkspaceId, events: &[NewEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut records = Vec::with_capacity(events.len() * 128);
        for event in events {
            encode(&mut records, &event.view());
        }
        self.to_writer(ws, records, false).await
    }

    async fn foreign_version(&self, ws: WorkspaceId) -> Result<u64, StoreError> {
        let own = format!("-{}-", std::process::id());
        let dir = self.workspace_dir(ws);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err(&dir, e)),
        };
        let mut version = 0u64;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".seg") && !name.contains(&own) {
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                // Files only grow and are only added, so their count and total size identify a state.
                version = version.wrapping_add(len).wrapping_add(1 << 48);
            }
        }
        Ok(version)
    }

    async fn scan_since(
        &self,
        ws: WorkspaceId,
        checkpoint: &str,
        visit: &mut (dyn for<'e> FnMut(EventView<'e>) + Send),
    ) -> Result<(u64, String), StoreError> {
        // The checkpoint maps each log file to the end of its last record read.
        let mut offsets: std::collections::BTreeMap<String, u64> = if checkpoint.is_empty() {
            Default::default()
        } else {
            serde_json::from_str(checkpoint).map_err(|e| StoreError::Corrupt(format!("event log checkpoint: {e}")))?
        };
        let dir = self.workspace_dir(ws);
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "seg"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, checkpoint.to_string())),
            Err(e) => return Err(io_err(&dir, e)),
        };
        paths.sort();
        let mut total = 0;
        for path in paths {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let start = offsets.get(&name).copied().unwrap_or(0);
            let read_path = path.clone();
            let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                use std::io::{Read, Seek};
                let mut file = std::fs::File::open(&read_path)?;
                file.seek(std::io::SeekFrom::Start(start))?;
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes)?;
                Ok(bytes)
            })
            .await
            .map_err(|e| StoreError::Backend(format!("event log reader: {e}")))?
            .map_err(|e| io_err(&path, e))?;
            let (count, end, problem) = scan_records(&bytes, start == 0, visit);
            total += count;
            offsets.insert(name, start + end as u64);
            if let Some(problem) = problem {
                // Only the end of a file can be torn by a crash; that record was never acknowledged.
                tracing::warn!(file = %path.display(), %problem, "event log file ends early");
            }
        }
        let checkpoint = serde_json::to_string(&offsets).expect("a map of offsets serialises");
        Ok((total, checkpoint))
    }

    async fn scan_received_since(
        &self,
        ws: WorkspaceId,
        since_us: i64,
        visit: &mut (dyn for<'e> FnMut(EventView<'e>) + Send),
    ) -> Result<u64, StoreError> {
        // A log file last written before `since_us` holds no event received after it: start the
        // scan from a checkpoint that places those files at their end.
        let dir = self.workspace_dir(ws);
        let since = std::time::UNIX_EPOCH + std::time::Duration::from_micros(since_us.max(0) as u64);
        let mut skipped: std::collections::BTreeMap<String, u64> = Default::default();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Ok(meta) = entry.metadata() else { continue };
                if name.ends_with(".seg") && meta.modified().is_ok_and(|m| m < since) {
                    skipped.insert(name, meta.len());
                }
            }
        }
        let checkpoint = if skipped.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&skipped).expect("offsets serialise")
        };
        let mut count = 0;
        self.scan_since(ws, &checkpoint, &mut |event| {
            if event.received_us >= since_us {
                count += 1;
                visit(event);
            }
        })
        .await?;
        Ok(count)
    }

    async fn checkpoint(&self, ws: WorkspaceId) -> Result<String, StoreError> {
        // Every log file at its current end: acknowledged records are whole, and a torn record at
        // the end of a crashed process's file is never completed.
        let dir = self.workspace_dir(ws);
        let mut offsets: std::collections::BTreeMap<String, u64> = Default::default();
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(|e| io_err(&dir, e))?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".seg") {
                        offsets.insert(name, entry.metadata().map_err(|e| io_err(&entry.path(), e))?.len());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&dir, e)),
        }
        Ok(serde_json::to_string(&offsets).expect("a map of offsets serialises"))
    }

    async fn save_snapshot(&self, ws: WorkspaceId, bytes: Vec<u8>) -> Result<(), StoreError> {
        let dir = self.workspace_dir(ws);
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            crate::private_files::create_dir(&dir)?;
            let temporary = dir.join("index.snap.tmp");
            let mut file = crate::private_files::options().write(true).create(true).truncate(true).open(&temporary)?;
            write_paced(&mut file, &bytes)?;
            file.sync_all()?;
            // Readers see the old snapshot or the new one, never half of one.
            std::fs::rename(&temporary, dir.join(SNAPSHOT_FILE))?;
            std::fs::File::open(&dir)?.sync_all()
        })
        .await
        .map_err(|e| StoreError::Backend(format!("snapshot writer: {e}")))?
        .map_err(|e| StoreError::Backend(format!("cannot save the index snapshot: {e}")))
    }

    async fn delete_snapshot(&self, ws: WorkspaceId) -> Result<(), StoreError> {
        let path = self.workspace_dir(ws).join(SNAPSHOT_FILE);
        let removed = path.clone();
        match tokio::task::spawn_blocking(move || std::fs::remove_file(&removed))
            .await
            .map_err(|e| StoreError::Backend(format!("snapshot remover: {e}")))?
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    async fn load_snapshot(&self, ws: WorkspaceId) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.workspace_dir(ws).join(SNAPSHOT_FILE);
        let read_path = path.clone();
        match tokio::task::spawn_blocking(move || std::fs::read(&read_path))
            .await
            .map_err(|e| StoreError::Backend(format!("snapshot reader: {e}")))?
        {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    async fn workspaces_with_clear_events(&self) -> Result<Vec<WorkspaceId>, StoreError> {
        let dir = self.dir.clone();
        blocking(move || {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(&dir)?.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(ws) = name.strip_prefix("ws-").and_then(|n| n.parse().ok())
                    && !entry.path().join(SEALED_MARKER).exists()
                {
                    found.push(WorkspaceId(ws));
                }
            }
            found.sort();
            Ok(found)
        })
        .await
    }

    async fn clear_event_customers(&self, ws: WorkspaceId) -> Result<Vec<CustomerId>, StoreError> {
        let dir = self.workspace_dir(ws);
        if dir.join(SEALED_MARKER).exists() {
            return Ok(Vec::new());
        }
        let mut customers = std::collections::BTreeSet::new();
        for file in log_files(&dir).await? {
            let bytes = blocking(move || std::fs::read(&file)).await?;
            scan_records(&bytes, true, &mut |event| {
                if !event.properties.starts_with(SEALED_PREFIX) {
                    customers.insert(event.customer);
                }
            });
        }
        if customers.is_empty() && dir.exists() {
            mark_sealed(&dir).await?;
        }
        Ok(customers.into_iter().collect())
    }

    async fn seal_clear_events(
        &self,
        ws: WorkspaceId,
        seal: &mut (dyn for<'e> FnMut(EventView<'e>) -> NewEvent + Send),
    ) -> Result<u64, StoreError> {
        let dir = self.workspace_dir(ws);
        self.close_files(ws).await?;
        let mut sealed = 0;
        for file in log_files(&dir).await? {
            let path = file.clone();
            let bytes = blocking(move || std::fs::read(&path)).await?;
            let mut clear = 0;
            scan_records(&bytes, true, &mut |event| clear += u64::from(!event.properties.starts_with(SEALED_PREFIX)));
            if clear == 0 {
                continue;
            }
            // The file anew: every record as it was but those in the clear, sealed; a torn tail
            // (unreadable anyway) is left out.
            let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 2);
            out.extend_from_slice(MAGIC);
            scan_records(&bytes, true, &mut |event| {
                if event.properties.starts_with(SEALED_PREFIX) {
                    encode(&mut out, &event);
                } else {
                    encode(&mut out, &seal(event).view());
                }
            });
            drop(bytes);
            blocking(move || replace_file(&file, &out)).await?;
            sealed += clear;
        }
        self.delete_snapshot(ws).await?;
        if dir.exists() {
            mark_sealed(&dir).await?;
        }
        Ok(sealed)
    }
}

/// The file in a workspace's log folder that says no event of it is kept in the clear (written once
/// the upgrade at start found or sealed them all; every append since is sealed).
const SEALED_MARKER: &str = "sealed.v1";
const SEALED_MARKER_TEXT: &[u8] = b"every event of this folder is sealed\n";

/// Runs blocking file work off the runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Backend(format!("event log task: {e}")))?
        .map_err(|e| StoreError::Backend(format!("event log: {e}")))
}

/// The log files of a workspace's folder, in name order (none if it does not exist).
async fn log_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let dir = dir.to_path_buf();
    blocking(move || {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => {
                entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "seg")).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        files.sort();
        Ok(files)
    })
    .await
}

/// Replaces `path` by `bytes` so that a reader or a crash sees the old file or the new one whole:
/// written beside it, synced, renamed over it, and the folder synced.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = crate::private_files::options().write(true).create(true).truncate(true).open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}

/// Writes the sealed marker into a workspace's log folder, durably.
async fn mark_sealed(dir: &Path) -> Result<(), StoreError> {
    let marker = dir.join(SEALED_MARKER);
    blocking(move || replace_file(&marker, SEALED_MARKER_TEXT)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> NewEvent {
        NewEvent {
            customer: CustomerId(n),
            kind: EventKind::Track,
            name: format!("Event {n}"),
            ts_us: 1_000 + n,
            received_us: 2_000 + n,
            message_id: format!("m{n}"),
            user_id: "u".into(),
            anonymous_id: String::new(),
            properties: r#"{"revenue":1.5}"#.into(),
            context: "{}".into(),
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_skipped() {
        let mut bytes = MAGIC.to_vec();
        for n in 0..3 {
            encode(&mut bytes, &event(n).view());
        }
        let whole = bytes.len();
        encode(&mut bytes, &event(3).view());
        bytes.truncate(whole + 5);
        let mut seen = Vec::new();
        let (count, _, problem) =
            scan_records(&bytes, true, &mut |e| seen.push((e.customer.0, e.name.to_string(), e.ts_us)));
        assert_eq!(count, 3);
        assert!(problem.is_some_and(|p| p.starts_with("torn")));
        assert_eq!(seen[2], (2, "Event 2".to_string(), 1_002));
        // A flipped byte in a record is caught by its checksum.
        let mut flipped = bytes[..whole].to_vec();
        flipped[whole - 3] ^= 0x55;
        assert_eq!(scan_records(&flipped, true, &mut |_| {}).0, 2);
    }
}
