//! Streaming CSV import: rows are parsed on a blocking thread and applied in batches; every good
//! row is imported, every bad row reported with its line, column and reason, none half-applied.

use super::Services;
use super::import_bounds::{BoundedCsv, too_long};
use crate::access::{Permission, Principal};
use crate::error::{DomainError, DomainResult, FieldError};
use crate::imports::{column_of, parse_header, parse_row};
use crate::profiles::CustomerInput;
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

enum Parsed {
    Header(Vec<String>),
    Batch(Vec<(u64, CustomerInput, Vec<String>)>),
    Rejected(u64, Vec<FieldError>),
}

impl Services {
    /// Imports customers from a CSV stream (layout in [`crate::imports`]); `progress` is called with
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
                        match parse_row(&headers, &columns, &record) {
                            Ok((input, identity_columns)) => batch.push((line, input, identity_columns)),
                            Err(errors) => {
                                if sender.blocking_send(Parsed::Rejected(line, errors)).is_err() {
                                    break;
                                }
                            }
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
                Parsed::Batch(rows) => {
                    report.rows += rows.len() as u64;
                    let mut lines = Vec::with_capacity(rows.len());
                    let mut inputs = Vec::with_capacity(rows.len());
                    let mut identity_columns = Vec::with_capacity(rows.len());
                    for (line, input, columns) in rows {
                        lines.push(line);
                        inputs.push(input);
                        identity_columns.push(columns);
                    }
                    let results = self.upsert_customers(principal, inputs, "import", "").await?;
                    for ((line, result), columns) in lines.into_iter().zip(results).zip(identity_columns) {
                        match result {
                            Ok(outcome) => {
                                report.imported += 1;
                                report.created += u64::from(outcome.created);
                                report.merged += outcome.merged.len() as u64;
                            }
                            Err(errors) => {
                                let errors = errors
                                    .into_iter()
                                    .map(|e| FieldError::new(column_of(&e.field, &headers, &columns), e.reason))
                                    .collect();
                                report.reject(line, errors);
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
            Ok(Err(header_error)) => Err(DomainError::Invalid(vec![FieldError::new(
                format!("header.{}", header_error.field),
                header_error.reason,
            )])),
            Err(join) => Err(DomainError::Internal(format!("import parser failed: {join}"))),
        }
    }
}
