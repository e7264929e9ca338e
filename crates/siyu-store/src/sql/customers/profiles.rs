// Customer profiles with identity merge, notes and merge records (included into `sqlite` and
// `postgres`).

use siyu_domain::customers::{
    AssignedTag, ClearValues, CustomerFilter, CustomerStore, MergeRecord, NoteBody, SealedDraft,
    SealedIdentity, SealedTrait, SealedValues, StoredCustomer, StoredIdentity, StoredNote, StoredTrait, TraitPayload,
    UpsertOutcome,
};

type Tx = WriteTx;


/// Returns the live id an id resolves to within the transaction, if it exists in the workspace.
async fn resolve_in(tx: &mut Tx, ws: WorkspaceId, id: CustomerId) -> Result<Option<CustomerId>, StoreError> {
    let row: Option<(i64, Option<i64>)> =
        sqlx::query_as("SELECT id, merged_into FROM customers WHERE workspace_id = $1 AND id = $2")
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
    Ok(row.map(|(id, merged_into)| CustomerId(merged_into.unwrap_or(id))))
}

/// Moves everything of `loser` to `survivor` and records the merge.
async fn merge_into(
    tx: &mut Tx,
    ws: WorkspaceId,
    survivor: CustomerId,
    loser: CustomerId,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    let (s, l) = (survivor.0, loser.0);
    settle_identities(tx).await?;
    // Traits: per key, the most recently written value wins.
    let mut kept = read_doc(tx, s).await?;
    merge_docs(&mut kept, read_doc(tx, l).await?);
    write_doc(tx, s, &kept).await?;
    let statements: [&'static str; 8] = [
        "UPDATE identities SET customer_id = $1 WHERE workspace_id = $3 AND customer_id = $2 AND (lookup, kind) IN \
         (SELECT lookup, kind FROM customer_identities WHERE customer_id = $2)",
        "UPDATE customer_identities SET customer_id = $1 WHERE customer_id = $2 AND workspace_id = $3",
        "INSERT INTO customer_tags (workspace_id, customer_id, tag_id, source, assigned_at) \
         SELECT workspace_id, $1, tag_id, source, assigned_at FROM customer_tags WHERE customer_id = $2 AND workspace_id = $3 \
         ON CONFLICT (customer_id, tag_id) DO NOTHING",
        "DELETE FROM customer_tags WHERE customer_id = $2 AND workspace_id = $3",
        "UPDATE notes SET customer_id = $1 WHERE customer_id = $2 AND workspace_id = $3",
        "UPDATE consent_records SET customer_id = $1 WHERE customer_id = $2 AND workspace_id = $3",
        "UPDATE customers SET created_at = (SELECT MIN(created_at) FROM customers WHERE id IN ($1, $2)) \
         WHERE id = $1 AND workspace_id = $3",
        // Path compression keeps every merged id one hop from its survivor (transitive merges).
        "UPDATE customers SET merged_into = $1 WHERE workspace_id = $3 AND (id = $2 OR merged_into = $2)",
    ];
    for sql in statements {
        sqlx::query(sql).bind(s).bind(l).bind(ws.0).execute(&mut **tx).await.map_err(db_err)?;
    }
    sqlx::query(
        "INSERT INTO customer_merges (workspace_id, survivor_id, merged_id, reason, merged_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(ws.0)
    .bind(s)
    .bind(l)
    .bind(reason)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Returns the owner of each of the given identities that exists: `(kind, lookup) → customer`.
/// The primary key starts with `(workspace_id, lookup)`, so one `IN` list per chunk is an index probe.
async fn identity_owners<'a>(
    tx: &mut Tx,
    ws: WorkspaceId,
    identities: impl Iterator<Item = &'a SealedIdentity>,
) -> Result<HashMap<(IdentityKind, String), i64>, StoreError> {
    let wanted: HashSet<(IdentityKind, &str)> = identities.map(|i| (i.kind, i.lookup.as_str())).collect();
    let mut lookups: Vec<&str> = wanted.iter().map(|(_, lookup)| *lookup).collect();
    lookups.sort_unstable();
    lookups.dedup();
    let mut owners = HashMap::new();
    for chunk in lookups.chunks(CHUNK) {
        let mut query =
            sqlx::QueryBuilder::<Db>::new("SELECT customer_id, kind, lookup FROM identities WHERE workspace_id = ");
        query.push_bind(ws.0).push(" AND lookup IN (");
        let mut separated = query.separated(", ");
        for lookup in chunk {
            separated.push_bind(lookup.to_string());
        }
        query.push(")");
        let rows: Vec<(i64, String, String)> = query.build_query_as().fetch_all(&mut **tx).await.map_err(db_err)?;
        for (customer, kind, lookup) in rows {
            let kind = IdentityKind::parse(&kind).ok_or_else(|| corrupt("identity kind", &kind))?;
            if wanted.contains(&(kind, lookup.as_str())) {
                owners.insert((kind, lookup), customer);
            }
        }
    }
    pending_owners(tx, ws, wanted.iter().copied(), &mut owners).await?;
    Ok(owners)
}

/// Writes identities and tags of drafts whose profiles are already decided, with one multi-row
/// statement per table and chunk (traits are written with the profile row).
async fn write_attachments(
    tx: &mut Tx,
    ws: WorkspaceId,
    items: &[(i64, &SealedDraft)],
    owned: &HashMap<(IdentityKind, String), i64>,
    now: i64,
) -> Result<(), StoreError> {
    let identities: Vec<(i64, &SealedDraft, &SealedIdentity)> = items
        .iter()
        .flat_map(|(id, d)| d.identities.iter().map(move |i| (*id, *d, i)))
        .filter(|(_, _, i)| !owned.contains_key(&(i.kind, i.lookup.clone())))
        .collect();
    let indexed: Vec<(i64, IdentityKind, &str)> =
        identities.iter().map(|(customer, _, identity)| (*customer, identity.kind, identity.lookup.as_str())).collect();
    index_identities(tx, ws, &indexed).await?;
    for chunk in identities.chunks(CHUNK) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO customer_identities (workspace_id, customer_id, kind, lookup, sealed, source, created_at) ",
        );
        query.push_values(chunk, |mut row, (customer, draft, identity)| {
            row.push_bind(ws.0)
                .push_bind(*customer)
                .push_bind(identity.kind.as_str())
                .push_bind(identity.lookup.clone())
                .push_bind(identity.sealed.clone())
                .push_bind(draft.source.clone())
                .push_bind(now);
        });
        query.build().execute(&mut **tx).await.map_err(db_err)?;
    }
    let tags: Vec<(i64, &SealedDraft, TagId)> =
        items.iter().flat_map(|(id, d)| d.tags.iter().map(move |t| (*id, *d, *t))).collect();
    for chunk in tags.chunks(CHUNK) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO customer_tags (workspace_id, customer_id, tag_id, source, assigned_at) ",
        );
        query.push_values(chunk, |mut row, (customer, draft, tag)| {
            row.push_bind(ws.0)
                .push_bind(*customer)
                .push_bind(tag.0)
                .push_bind(draft.tag_source.clone())
                .push_bind(now);
        });
        query.push(" ON CONFLICT (customer_id, tag_id) DO NOTHING");
        query.build().execute(&mut **tx).await.map_err(db_err)?;
    }
    Ok(())
}

/// Applies a batch: drafts that touch at most one existing profile and share no identity with
/// another draft of the batch are written in bulk; the rest (merges, addressed updates) one by one.
async fn upsert_batch(
    tx: &mut Tx,
    ws: WorkspaceId,
    drafts: &[SealedDraft],
    now: i64,
) -> Result<Vec<UpsertOutcome>, StoreError> {
    let owners = identity_owners(tx, ws, drafts.iter().flat_map(|d| d.identities.iter())).await?;
    let mut seen: HashMap<(IdentityKind, &str), usize> = HashMap::new();
    for draft in drafts {
        for identity in &draft.identities {
            *seen.entry((identity.kind, identity.lookup.as_str())).or_default() += 1;
        }
    }
    let mut outcomes: Vec<Option<UpsertOutcome>> = vec![None; drafts.len()];
    let mut new_drafts = Vec::new();
    let mut existing = Vec::new();
    let mut one_by_one = Vec::new();
    for (index, draft) in drafts.iter().enumerate() {
        let shared = draft.identities.iter().any(|i| seen[&(i.kind, i.lookup.as_str())] > 1);
        let mut found: Vec<i64> =
            draft.identities.iter().filter_map(|i| owners.get(&(i.kind, i.lookup.clone())).copied()).collect();
        found.sort_unstable();
        found.dedup();
        match (draft.target, shared, found.as_slice()) {
            (None, false, []) => new_drafts.push(index),
            (None, false, [owner]) => existing.push((index, *owner)),
            _ => one_by_one.push(index),
        }
    }
    // Two drafts updating the same profile would upsert one trait row twice in one statement
    // (PostgreSQL refuses that); they go one by one.
    let mut per_owner: HashMap<i64, usize> = HashMap::new();
    for (_, owner) in &existing {
        *per_owner.entry(*owner).or_default() += 1;
    }
    let (existing, repeated): (Vec<_>, Vec<_>) = existing.into_iter().partition(|(_, owner)| per_owner[owner] == 1);
    one_by_one.extend(repeated.into_iter().map(|(index, _)| index));
    one_by_one.sort_unstable();
    let ids = allocate_customer_ids(tx, new_drafts.len()).await?;
    let mut fresh = Vec::with_capacity(ids.len());
    for (index, id) in new_drafts.iter().zip(&ids) {
        let mut doc = TraitDoc::new();
        apply_traits(&mut doc, &drafts[*index].traits, &drafts[*index].source, now)?;
        fresh.push((*id, doc_text(&doc), drafts[*index].event_key.as_deref()));
    }
    for chunk in fresh.chunks(CHUNK) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO customers (id, workspace_id, traits, created_at, updated_at, event_key) ",
        );
        query.push_values(chunk, |mut row, (id, traits, event_key)| {
            row.push_bind(*id)
                .push_bind(ws.0)
                .push_bind(traits.clone())
                .push_bind(now)
                .push_bind(now)
                .push_bind(event_key.map(<[u8]>::to_vec));
        });
        query.build().execute(&mut **tx).await.map_err(db_err)?;
    }
    for (index, id) in &existing {
        rewrite_traits(tx, *id, &drafts[*index].traits, &drafts[*index].source, now).await?;
    }
    let existing_ids: Vec<i64> = existing.iter().map(|(_, id)| *id).collect();
    for chunk in existing_ids.chunks(CHUNK) {
        let mut query = sqlx::QueryBuilder::<Db>::new("UPDATE customers SET updated_at = ");
        query.push_bind(now).push(" WHERE id IN (");
        push_id_list(&mut query, chunk);
        query.push(")");
        query.build().execute(&mut **tx).await.map_err(db_err)?;
    }
    let mut items: Vec<(i64, &SealedDraft)> = Vec::with_capacity(new_drafts.len() + existing.len());
    for (index, id) in new_drafts.iter().zip(&ids) {
        items.push((*id, &drafts[*index]));
        outcomes[*index] = Some(UpsertOutcome { customer_id: CustomerId(*id), created: true, merged: vec![] });
    }
    for (index, id) in &existing {
        items.push((*id, &drafts[*index]));
        outcomes[*index] = Some(UpsertOutcome { customer_id: CustomerId(*id), created: false, merged: vec![] });
    }
    write_attachments(tx, ws, &items, &owners, now).await?;
    for index in one_by_one {
        outcomes[index] = Some(upsert_one(tx, ws, &drafts[index], now).await?);
    }
    Ok(outcomes.into_iter().map(|o| o.expect("every draft was applied")).collect())
}

async fn upsert_one(tx: &mut Tx, ws: WorkspaceId, draft: &SealedDraft, now: i64) -> Result<UpsertOutcome, StoreError> {
    // Owners of the draft's identities (and the addressed customer) all become one profile.
    let mut owners: BTreeMap<i64, String> = BTreeMap::new();
    if let Some(target) = draft.target {
        let live =
            resolve_in(tx, ws, target).await?.ok_or_else(|| StoreError::NotFound(format!("customer {target}")))?;
        owners.insert(live.0, "target".into());
    }
    let owned = identity_owners(tx, ws, draft.identities.iter()).await?;
    for (identity, owner) in &owned {
        owners.entry(*owner).or_insert_with(|| identity.0.as_str().to_string());
    }
    let (survivor, created) = match owners.keys().next() {
        Some(&oldest) => (CustomerId(oldest), false),
        None => {
            let mut doc = TraitDoc::new();
            apply_traits(&mut doc, &draft.traits, &draft.source, now)?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO customers (workspace_id, traits, created_at, updated_at, event_key) \
                 VALUES ($1, $2, $3, $3, $4) RETURNING id",
            )
            .bind(ws.0)
            .bind(doc_text(&doc))
            .bind(now)
            .bind(&draft.event_key)
            .fetch_one(&mut **tx)
            .await
            .map_err(db_err)?;
            (CustomerId(id), true)
        }
    };
    let mut merged = Vec::new();
    for (&other, reason) in owners.iter().skip(1) {
        merge_into(tx, ws, survivor, CustomerId(other), reason, now).await?;
        merged.push(CustomerId(other));
    }
    write_attachments(tx, ws, &[(survivor.0, draft)], &owned, now).await?;
    if !created {
        rewrite_traits(tx, survivor.0, &draft.traits, &draft.source, now).await?;
        sqlx::query("UPDATE customers SET updated_at = $2 WHERE id = $1")
            .bind(survivor.0)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
    }
    Ok(UpsertOutcome { customer_id: survivor, created, merged })
}

impl SqlStore {
    /// Adds what segments test of the workspace's live profiles (of `ids` only, if given) to `facts`.
    async fn read_facts(
        &self,
        ws: WorkspaceId,
        ids: Option<&[i64]>,
        facts: &mut siyu_domain::segments::ProfileFacts,
    ) -> Result<(), StoreError> {
        let query = |sql: &str, column: &str, order: &str| {
            let mut query = sqlx::QueryBuilder::<Db>::new(sql);
            query.push_bind(ws.0);
            if let Some(ids) = ids {
                query.push(format!(" AND {column} IN ("));
                push_id_list(&mut query, ids);
                query.push(")");
            }
            query.push(order);
            query
        };
        let mut live = query(
            "SELECT id, traits FROM customers WHERE merged_into IS NULL AND workspace_id = ",
            "id",
            "",
        );
        for row in live.build().fetch_all(&self.pool).await.map_err(db_err)? {
            let id: i64 = get(&row, "id")?;
            facts.add_customer(id);
            let traits: String = get(&row, "traits")?;
            for (key, entry) in parse_doc(&traits)? {
                if let Some(value) = entry.v {
                    facts.add_trait(id, &key, value);
                }
            }
        }
        let mut tags = query(
            "SELECT ct.customer_id, t.name FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id \
             WHERE ct.workspace_id = ",
            "ct.customer_id",
            "",
        );
        for row in tags.build().fetch_all(&self.pool).await.map_err(db_err)? {
            facts.add_tag(get(&row, "customer_id")?, &get::<String>(&row, "name")?);
        }
        let mut identities =
            query("SELECT customer_id, kind FROM customer_identities WHERE workspace_id = ", "customer_id", "");
        for row in identities.build().fetch_all(&self.pool).await.map_err(db_err)? {
            let kind: String = get(&row, "kind")?;
            let kind = IdentityKind::parse(&kind).ok_or_else(|| corrupt("identity kind", &kind))?;
            facts.add_identity(get(&row, "customer_id")?, kind);
        }
        let mut consent = query(
            "SELECT customer_id, purpose, channel, granted FROM consent_records WHERE workspace_id = ",
            "customer_id",
            " ORDER BY id",
        );
        for row in consent.build().fetch_all(&self.pool).await.map_err(db_err)? {
            let (purpose, channel): (String, String) = (get(&row, "purpose")?, get(&row, "channel")?);
            let purpose = Purpose::parse(&purpose).ok_or_else(|| corrupt("purpose", &purpose))?;
            let channel = Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?;
            facts.apply_consent(get(&row, "customer_id")?, purpose, channel, get(&row, "granted")?);
        }
        Ok(())
    }

    /// Loads identities, traits and tags of live customers, keeping the order of `heads`.
    async fn hydrate(&self, heads: Vec<(i64, i64, i64, String)>) -> Result<Vec<StoredCustomer>, StoreError> {
        let mut customers: Vec<StoredCustomer> = heads
            .into_iter()
            .map(|(id, created_at, updated_at, traits)| {
                Ok(StoredCustomer {
                    id: CustomerId(id),
                    created_at: siyu_core::clock::from_millis(created_at),
                    updated_at: siyu_core::clock::from_millis(updated_at),
                    identities: Vec::new(),
                    traits: stored_traits(parse_doc(&traits)?)?,
                    tags: Vec::new(),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        if customers.is_empty() {
            return Ok(customers);
        }
        let index: BTreeMap<i64, usize> = customers.iter().enumerate().map(|(i, c)| (c.id.0, i)).collect();
        let ids: Vec<i64> = index.keys().copied().collect();
        for chunk in ids.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "SELECT customer_id, kind, lookup, sealed, source, created_at FROM customer_identities WHERE customer_id IN (",
            );
            push_id_list(&mut query, chunk);
            query.push(") ORDER BY created_at, kind");
            for row in query.build().fetch_all(&self.pool).await.map_err(db_err)? {
                let kind: String = get(&row, "kind")?;
                let customer: i64 = get(&row, "customer_id")?;
                customers[index[&customer]].identities.push(StoredIdentity {
                    kind: IdentityKind::parse(&kind).ok_or_else(|| corrupt("identity kind", &kind))?,
                    lookup: get(&row, "lookup")?,
                    sealed: get(&row, "sealed")?,
                    source: get(&row, "source")?,
                    created_at: ts(&row, "created_at")?,
                });
            }
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "SELECT ct.customer_id, ct.tag_id, t.name, g.name AS group_name, g.family, ct.source, ct.assigned_at \
                 FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id JOIN tag_groups g ON g.id = t.group_id \
                 WHERE ct.customer_id IN (",
            );
            push_id_list(&mut query, chunk);
            query.push(") ORDER BY g.name, t.name");
            for row in query.build().fetch_all(&self.pool).await.map_err(db_err)? {
                let customer: i64 = get(&row, "customer_id")?;
                customers[index[&customer]].tags.push(AssignedTag {
                    tag_id: TagId(get(&row, "tag_id")?),
                    name: get(&row, "name")?,
                    group: get(&row, "group_name")?,
                    family: get(&row, "family")?,
                    source: get(&row, "source")?,
                    assigned_at: ts(&row, "assigned_at")?,
                });
            }
        }
        Ok(customers)
    }

    async fn upsert_attempt(
        &self,
        ws: WorkspaceId,
        drafts: &[SealedDraft],
        now: i64,
    ) -> Result<Vec<UpsertOutcome>, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcomes = upsert_batch(&mut tx, ws, drafts, now).await?;
        tx.commit().await?;
        Ok(outcomes)
    }
}

/// Adds the conditions of a customer filter (identities, traits, tags) to a query over `customers c`;
/// `pending` are the owners of the filter's identities whose index rows are still pending.
fn push_customer_filter(query: &mut sqlx::QueryBuilder<Db>, ws: WorkspaceId, filter: &CustomerFilter, pending: &[i64]) {
    if !filter.identities.is_empty() {
        query.push(" AND (");
        if !pending.is_empty() {
            query.push("c.id IN (");
            push_id_list(query, pending);
            query.push(") OR ");
        }
        query
            .push("c.id IN (SELECT customer_id FROM identities WHERE workspace_id = ")
            .push_bind(ws.0)
            .push(" AND (");
        for (i, (kind, lookup)) in filter.identities.iter().enumerate() {
            if i > 0 {
                query.push(" OR ");
            }
            query
                .push("(kind = ")
                .push_bind(kind.as_str())
                .push(" AND lookup = ")
                .push_bind(lookup.clone())
                .push(")");
        }
        query.push(")))");
    }
    for (key, value) in &filter.traits {
        push_trait_equals(query, key, value);
    }
    for tag in &filter.tags {
        query
            .push(" AND EXISTS (SELECT 1 FROM customer_tags g WHERE g.customer_id = c.id AND g.tag_id = ")
            .push_bind(tag.0)
            .push(")");
    }
}

#[async_trait]
impl CustomerStore for SqlStore {
    async fn upsert(
        &self,
        ws: WorkspaceId,
        drafts: &[SealedDraft],
        now: jiff::Timestamp,
    ) -> Result<Vec<UpsertOutcome>, StoreError> {
        let now = millis(now);
        let mut attempt = 0;
        loop {
            // Two concurrent writers may both create a profile for the same new identity; the loser of
            // that race sees a unique violation, and retrying finds the winner's profile.
            match self.upsert_attempt(ws, drafts, now).await {
                Err(StoreError::Conflict(_)) if attempt < 3 => attempt += 1,
                other => return other,
            }
        }
    }

    async fn merged_customers(&self, ws: WorkspaceId) -> Result<Vec<(CustomerId, CustomerId)>, StoreError> {
        // merged_into is kept path-compressed: it always names the live survivor.
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, merged_into FROM customers WHERE workspace_id = $1 AND merged_into IS NOT NULL",
        )
        .bind(ws.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|(id, into)| (CustomerId(id), CustomerId(into))).collect())
    }

    async fn resolve(&self, ws: WorkspaceId, id: CustomerId) -> Result<Option<CustomerId>, StoreError> {
        let row: Option<(i64, Option<i64>)> =
            sqlx::query_as("SELECT id, merged_into FROM customers WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0)
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(row.map(|(id, merged_into)| CustomerId(merged_into.unwrap_or(id))))
    }

    async fn find(&self, ws: WorkspaceId, id: CustomerId) -> Result<Option<StoredCustomer>, StoreError> {
        let Some(live) = self.resolve(ws, id).await? else { return Ok(None) };
        let head: Option<(i64, i64, i64, String)> = sqlx::query_as(
            "SELECT id, created_at, updated_at, traits FROM customers WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws.0)
        .bind(live.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(self.hydrate(head.into_iter().collect()).await?.pop())
    }

    async fn list(
        &self,
        ws: WorkspaceId,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<StoredCustomer>, StoreError> {
        let pending = self.pending_identity_owners(ws, &filter.identities).await?;
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "SELECT c.id, c.created_at, c.updated_at, c.traits FROM customers c WHERE c.workspace_id = ",
        );
        query.push_bind(ws.0).push(" AND c.merged_into IS NULL");
        if let Some(after) = page.after {
            query.push(" AND c.id < ").push_bind(after);
        }
        push_customer_filter(&mut query, ws, filter, &pending);
        query.push(" ORDER BY c.id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
        let heads: Vec<(i64, i64, i64, String)> = query.build_query_as().fetch_all(&self.pool).await.map_err(db_err)?;
        let customers = self.hydrate(heads).await?;
        Ok(Page::from_overfetch(customers, page.limit, |c| c.id.0))
    }

    async fn count_matching(&self, ws: WorkspaceId, filter: &CustomerFilter) -> Result<i64, StoreError> {
        let pending = self.pending_identity_owners(ws, &filter.identities).await?;
        let mut query =
            sqlx::QueryBuilder::<Db>::new("SELECT COUNT(*) FROM customers c WHERE c.workspace_id = ");
        query.push_bind(ws.0).push(" AND c.merged_into IS NULL");
        push_customer_filter(&mut query, ws, filter, &pending);
        query.build_query_scalar().fetch_one(&self.pool).await.map_err(db_err)
    }

    async fn count(&self, ws: WorkspaceId) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE workspace_id = $1 AND merged_into IS NULL")
            .bind(ws.0)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn remove_identity(
        &self,
        ws: WorkspaceId,
        id: CustomerId,
        kind: IdentityKind,
        lookup: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        settle_identities(&mut tx).await?;
        let done = sqlx::query(
            "DELETE FROM identities WHERE workspace_id = $1 AND customer_id = $2 AND kind = $3 AND lookup = $4",
        )
        .bind(ws.0)
        .bind(id.0)
        .bind(kind.as_str())
        .bind(lookup)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("{} identity on customer {id}", kind.as_str())));
        }
        sqlx::query("DELETE FROM customer_identities WHERE customer_id = $1 AND kind = $2 AND lookup = $3")
            .bind(id.0)
            .bind(kind.as_str())
            .bind(lookup)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_tag(
        &self,
        ws: WorkspaceId,
        id: CustomerId,
        tag: TagId,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM customer_tags WHERE workspace_id = $1 AND customer_id = $2 AND tag_id = $3")
            .bind(ws.0)
            .bind(id.0)
            .bind(tag.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("UPDATE customers SET updated_at = $2 WHERE id = $1")
            .bind(id.0)
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await
    }

    async fn delete(&self, ws: WorkspaceId, id: CustomerId) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let live = resolve_in(&mut tx, ws, id).await?.ok_or_else(|| StoreError::NotFound(format!("customer {id}")))?;
        settle_identities(&mut tx).await?;
        let statements: [&'static str; 7] = [
            "DELETE FROM identities WHERE workspace_id = $1 AND customer_id = $2 AND (lookup, kind) IN \
             (SELECT lookup, kind FROM customer_identities WHERE customer_id = $2)",
            "DELETE FROM customer_identities WHERE workspace_id = $1 AND customer_id = $2",
            "DELETE FROM customer_tags WHERE workspace_id = $1 AND customer_id = $2",
            "DELETE FROM notes WHERE workspace_id = $1 AND customer_id = $2",
            "DELETE FROM consent_records WHERE workspace_id = $1 AND customer_id = $2",
            "DELETE FROM customer_merges WHERE workspace_id = $1 AND (survivor_id = $2 OR survivor_id IN \
             (SELECT id FROM customers WHERE merged_into = $2))",
            "DELETE FROM customers WHERE workspace_id = $1 AND (id = $2 OR merged_into = $2)",
        ];
        for sql in statements {
            sqlx::query(sql).bind(ws.0).bind(live.0).execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await
    }

    async fn add_note(
        &self,
        ws: WorkspaceId,
        id: CustomerId,
        author: &str,
        sealed_body: &[u8],
        now: jiff::Timestamp,
    ) -> Result<NoteId, StoreError> {
        let mut tx = self.begin_write().await?;
        let note_id: i64 = sqlx::query_scalar(
            "INSERT INTO notes (workspace_id, customer_id, author, body, sealed, created_at) \
             VALUES ($1, $2, $3, '', $4, $5) RETURNING id",
        )
        .bind(ws.0)
        .bind(id.0)
        .bind(author)
        .bind(sealed_body)
        .bind(millis(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        Ok(NoteId(note_id))
    }

    async fn notes(&self, ws: WorkspaceId, id: CustomerId) -> Result<Vec<StoredNote>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, author, body, sealed, created_at FROM notes WHERE workspace_id = $1 AND customer_id = $2 \
             ORDER BY id DESC",
        )
        .bind(ws.0)
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let sealed: Option<Vec<u8>> = get(row, "sealed")?;
                Ok(StoredNote {
                    id: NoteId(get(row, "id")?),
                    author: get(row, "author")?,
                    body: match sealed {
                        Some(sealed) => NoteBody::Sealed(sealed),
                        None => NoteBody::Clear(get(row, "body")?),
                    },
                    created_at: ts(row, "created_at")?,
                })
            })
            .collect()
    }

    async fn event_keys(
        &self,
        ws: WorkspaceId,
        ids: Option<&[CustomerId]>,
    ) -> Result<Vec<(CustomerId, Vec<u8>)>, StoreError> {
        let mut keys = Vec::new();
        let mut read = |rows: Vec<(i64, Vec<u8>)>| keys.extend(rows.into_iter().map(|(id, key)| (CustomerId(id), key)));
        match ids {
            None => read(
                sqlx::query_as(
                    "SELECT id, event_key FROM customers WHERE workspace_id = $1 AND event_key IS NOT NULL",
                )
                .bind(ws.0)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?,
            ),
            Some(ids) => {
                let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
                for chunk in ids.chunks(CHUNK) {
                    let mut query = sqlx::QueryBuilder::<Db>::new("SELECT id, event_key FROM customers WHERE workspace_id = ");
                    query.push_bind(ws.0).push(" AND event_key IS NOT NULL AND id IN (");
                    push_id_list(&mut query, chunk);
                    query.push(")");
                    read(query.build_query_as().fetch_all(&self.pool).await.map_err(db_err)?);
                }
            }
        }
        Ok(keys)
    }

    async fn set_event_keys(&self, ws: WorkspaceId, keys: &[(CustomerId, Vec<u8>)]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (id, key) in keys {
            sqlx::query("UPDATE customers SET event_key = $3 WHERE workspace_id = $1 AND id = $2 AND event_key IS NULL")
                .bind(ws.0)
                .bind(id.0)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await
    }

    async fn workspaces_with_clear_values(&self) -> Result<Vec<WorkspaceId>, StoreError> {
        // Both read partial indexes that hold only the rows not yet sealed.
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT workspace_id FROM customer_identities WHERE sealed IS NULL \
             UNION SELECT DISTINCT workspace_id FROM notes WHERE sealed IS NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(ids.into_iter().map(WorkspaceId).collect())
    }

    async fn clear_values(&self, ws: WorkspaceId, limit: usize) -> Result<ClearValues, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT customer_id, kind, lookup FROM customer_identities WHERE workspace_id = $1 AND sealed IS NULL LIMIT $2",
        )
        .bind(ws.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut clear = ClearValues::default();
        for row in &rows {
            let kind: String = get(row, "kind")?;
            let kind = IdentityKind::parse(&kind).ok_or_else(|| corrupt("identity kind", &kind))?;
            clear.identities.push((CustomerId(get(row, "customer_id")?), kind, get(row, "lookup")?));
        }
        let rows = sqlx::query("SELECT id, body FROM notes WHERE workspace_id = $1 AND sealed IS NULL LIMIT $2")
            .bind(ws.0)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        for row in &rows {
            clear.notes.push((NoteId(get(row, "id")?), get(row, "body")?));
        }
        Ok(clear)
    }

    async fn seal_values(&self, ws: WorkspaceId, sealed: &SealedValues) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        settle_identities(&mut tx).await?;
        for (customer, old, identity) in &sealed.identities {
            let kind = identity.kind.as_str();
            sqlx::query("UPDATE identities SET lookup = $4 WHERE workspace_id = $1 AND lookup = $2 AND kind = $3")
                .bind(ws.0)
                .bind(old)
                .bind(kind)
                .bind(&identity.lookup)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query(
                "UPDATE customer_identities SET lookup = $5, sealed = $6 \
                 WHERE workspace_id = $1 AND customer_id = $2 AND kind = $3 AND lookup = $4",
            )
            .bind(ws.0)
            .bind(customer.0)
            .bind(kind)
            .bind(old)
            .bind(&identity.lookup)
            .bind(&identity.sealed)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        for (id, body) in &sealed.notes {
            sqlx::query("UPDATE notes SET body = '', sealed = $3 WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0)
                .bind(id.0)
                .bind(body)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await
    }

    async fn merges(&self, ws: WorkspaceId, id: CustomerId) -> Result<Vec<MergeRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT survivor_id, merged_id, reason, merged_at FROM customer_merges WHERE workspace_id = $1 AND \
             (survivor_id = $2 OR survivor_id IN (SELECT id FROM customers WHERE merged_into = $2)) ORDER BY id",
        )
        .bind(ws.0)
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(MergeRecord {
                    survivor_id: CustomerId(get(row, "survivor_id")?),
                    merged_id: CustomerId(get(row, "merged_id")?),
                    reason: get(row, "reason")?,
                    merged_at: ts(row, "merged_at")?,
                })
            })
            .collect()
    }
}
