//! Streaming CSV import: rows are parsed on a blocking thread and applied in batches; every good
//! row is imported, every bad row reported with its line and every error it has (column and
//! reason), none half-applied.

use super::Customers;
use super::import_bounds::{BoundedCsv, too_long};
use crate::access::{Permission, Principal};
use crate::customers::CustomerInput;
use crate::customers::csv::{ParsedRow, column_of, parse_header, read_row};
use crate::error::{DomainError, DomainResult, FieldError};
use serde::Serialize;
use std::io::Read;

/// Rows applied per transaction.
const BATCH_ROWS: usize = 1000;
/// Errors kept in the report (all are counted).
const MAX_REPORTED_ERRORS: usize = 1000;

/// One rejected row.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// Line in the file (the header is line 1).
    pub line: u64,
    /// Column name, or `row`.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: u64,
    /// Rows applied.
    pub imported: u64,
    /// Profiles created.
    pub created: u64,
    /// Profiles merged away.
    pub merged: u64,
    /// Rows rejected.
    pub failed: u64,
    /// The first rejected rows' errors.
    pub errors: Vec<RowError>,
}

impl ImportReport {
    fn reject(&mut self, line: u64, errors: Vec<FieldError>) {
        self.failed += 1;
        for error in errors {
            if self.errors.len() < MAX_REPORTED_ERRORS {
                self.errors.push(RowError { line, field: error.field, reason: error.reason });
            }
        }
    }
}

/// A row ready to apply: its line, input, identity columns and tag names (to name unknown tags
/// beside other errors should the row be refused).
type GoodRow = (u64, CustomerInput, Vec<String>, Vec<String>);

enum Parsed {
    Header(Vec<String>),
    Batch(Vec<GoodRow>),
    /// A row with bad cells: the rest of it is still checked, so that all its errors are reported.
    Invalid(u64, ParsedRow),
    Rejected(u64, Vec<FieldError>),
}

impl Customers {
    /// Imports customers from a CSV stream (layout in [`crate::customers::csv`]); `progress` is called with
    /// the number of rows done after each batch.
    pub async fn import_customers<R: Read + Send + 'static>(
        &self,
        principal: &Principal,
        reader: R,
        progress: impl Fn(u64) + Send,
    ) -> DomainResult<ImportReport> {
        principal.require(Permission::CustomersImport)?;
        principal.require(Permission::CustomersWrite)?;
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Parsed>(4);
        let parser = tokio::task::spawn_blocking(move || -> Result<Vec<String>, FieldError> {
            // Fields and rows are bounded before the parser buffers them (a 1 GiB cell is refused).
            let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(BoundedCsv::new(reader));
            let headers: Vec<String> = csv
                .headers()
                .map_err(|e| FieldError::new("header", format!("cannot read the header: {e}")))?
                .iter()
                .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
                .collect();
            let columns = parse_header(&headers)?;
            if sender.blocking_send(Parsed::Header(headers.clone())).is_err() {
                return Ok(headers);
            }
            let mut batch = Vec::with_capacity(BATCH_ROWS);
            let mut record = csv::StringRecord::new();
            loop {
                let line = csv.position().line() + 1;
                match csv.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {
                        let line = record.position().map(|p| p.line()).unwrap_or(line);
                        let row = read_row(&headers, &columns, &record);
                        if row.errors.is_empty() {
                            let tags = row.input.tags.clone();
                            batch.push((line, row.input, row.identity_columns, tags));
                        } else if sender.blocking_send(Parsed::Invalid(line, row)).is_err() {
                            break;
                        }
                    }
                    Err(error) => {
                        let line = error.position().map(|p| p.line()).unwrap_or(line);
                        let reject = match too_long(&error) {
                            Some(bound) => {
                                let column =
                                    headers.get(bound.column).filter(|_| !bound.row).map_or("row", |h| h.as_str());
                                Parsed::Rejected(bound.line, vec![FieldError::new(column, bound.to_string())])
                            }
                            None => Parsed::Rejected(line, vec![FieldError::new("row", format!("{error}"))]),
                        };
                        if sender.blocking_send(reject).is_err() || error.is_io_error() {
                            break;
                        }
                    }
                }
                if batch.len() == BATCH_ROWS && sender.blocking_send(Parsed::Batch(std::mem::take(&mut batch))).is_err()
                {
                    break;
                }
            }
            if !batch.is_empty() {
                let _ = sender.blocking_send(Parsed::Batch(batch));
            }
            Ok(headers)
        });
        let mut report = ImportReport::default();
        let mut headers = Vec::new();
        while let Some(parsed) = receiver.recv().await {
            match parsed {
                Parsed::Header(names) => headers = names,
                Parsed::Rejected(line, errors) => {
                    report.rows += 1;
                    report.reject(line, errors);
                }
                Parsed::Invalid(line, row) => {
                    report.rows += 1;
                    let mut errors = row.errors;
                    let tags = row.input.tags.clone();
                    if let Err(more) = row.input.into_draft("", "import", true) {
                        errors.extend(
                            more.into_iter().map(|e| {
                                FieldError::new(column_of(&e.field, &headers, &row.identity_columns), e.reason)
                            }),
                        );
                    }
                    if !errors.iter().any(|e| e.field == "tags") {
                        errors.extend(self.unknown_tags(principal, &tags).await?);
                    }
                    report.reject(line, in_column_order(errors, &headers));
                }
                Parsed::Batch(rows) => {
                    report.rows += rows.len() as u64;
                    let mut lines = Vec::with_capacity(rows.len());
                    let mut inputs = Vec::with_capacity(rows.len());
                    let mut identity_columns = Vec::with_capacity(rows.len());
                    let mut row_tags = Vec::with_capacity(rows.len());
                    for (line, input, columns, tags) in rows {
                        lines.push(line);
                        inputs.push(input);
                        identity_columns.push(columns);
                        row_tags.push(tags);
                    }
                    let results = self.upsert_customers(principal, inputs, "import", "").await?;
                    let rows = lines.into_iter().zip(results).zip(identity_columns).zip(row_tags);
                    for (((line, result), columns), tags) in rows {
                        match result {
                            Ok(outcome) => {
                                report.imported += 1;
                                report.created += u64::from(outcome.created);
                                report.merged += outcome.merged.len() as u64;
                            }
                            Err(errors) => {
                                let mut errors: Vec<FieldError> = errors
                                    .into_iter()
                                    .map(|e| FieldError::new(column_of(&e.field, &headers, &columns), e.reason))
                                    .collect();
                                // Tags are checked only once the rest of a row is valid: check them now.
                                if !errors.iter().any(|e| e.field == "tags") {
                                    errors.extend(self.unknown_tags(principal, &tags).await?);
                                }
                                report.reject(line, in_column_order(errors, &headers));
                            }
                        }
                    }
                }
            }
            progress(report.rows);
        }
        match parser.await {
            Ok(Ok(_)) => {
                // Parse errors arrive before the validation errors of their batch; report in file order.
                report.errors.sort_by_key(|e| e.line);
                Ok(report)
            }
            Ok(Err(header_error)) => {
                // A column's error is `header.<column>`; the header's own is `header`.
                let field = if header_error.field == "header" {
                    header_error.field
                } else {
                    format!("header.{}", header_error.field)
                };
                Err(DomainError::Invalid(vec![FieldError::new(field, header_error.reason)]))
            }
            Err(join) => Err(DomainError::internal(format!("import parser failed: {join}"))),
        }
    }

    /// Returns an error for each of `tags` the workspace does not have.
    async fn unknown_tags(&self, principal: &Principal, tags: &[String]) -> DomainResult<Vec<FieldError>> {
        if tags.is_empty() {
            return Ok(Vec::new());
        }
        let (_, missing) = self.stores.tags.resolve_names(principal.workspace_id(), tags).await?;
        Ok(missing
            .into_iter()
            .map(|name| FieldError::new("tags", format!("unknown tag \"{name}\"; create it first")))
            .collect())
    }
}

/// Orders a row's errors as its columns are ordered (errors not about a column last).
fn in_column_order(mut errors: Vec<FieldError>, headers: &[String]) -> Vec<FieldError> {
    errors.sort_by_key(|e| headers.iter().position(|h| *h == e.field).unwrap_or(usize::MAX));
    errors
}
