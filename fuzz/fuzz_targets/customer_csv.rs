//! Fuzzes the CSV customer importer: any bytes are read as a CSV file the way an import reads
//! them (header, then records), each record turned into a customer input and that validated into a
//! draft, as the import's upsert does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use siyu_domain::customers::csv::{column_of, parse_header, parse_row};

fuzz_target!(|data: &[u8]| {
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(data);
    let Ok(headers) = csv.headers() else { return };
    let headers: Vec<String> = headers.iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_string()).collect();
    let Ok(columns) = parse_header(&headers) else { return };
    let mut record = csv::StringRecord::new();
    // A bounded number of rows: the work per row is what is fuzzed, not the length of the file.
    for _ in 0..64 {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => match parse_row(&headers, &columns, &record) {
                Ok((input, identity_columns)) => {
                    if let Err(errors) = input.into_draft("", "import", true) {
                        for error in errors {
                            let _ = column_of(&error.field, &headers, &identity_columns);
                        }
                    }
                }
                Err(errors) => assert!(!errors.is_empty()),
            },
            Err(error) if error.is_io_error() => break,
            Err(_) => {}
        }
    }
});
