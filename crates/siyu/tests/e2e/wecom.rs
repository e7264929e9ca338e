//! `siyu wecom decrypt` as a user runs it: a published vector opens, and a wrong signature, key or
//! receive id exits with status 2 and a line naming which.

/// WeCom's documented URL check (tests/fixtures/wecom.json of siyu-channels, `wecom-doc-verify-url`).
const VECTOR: [(&str, &str); 7] = [
    ("--token", "QDG6eK"),
    ("--encoding-aes-key", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
    ("--receive-id", "wx5823bf96d3bd56c7"),
    ("--timestamp", "1409659589"),
    ("--nonce", "263014780"),
    ("--msg-signature", "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"),
    ("--encrypt", "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="),
];

/// Runs `siyu wecom decrypt` with the vector, one flag changed; returns status, stdout, stderr.
fn decrypt(change: Option<(&str, &str)>) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_siyu"));
    command.args(["wecom", "decrypt"]).env("SIYU_DATA_DIR", dir.path()).env("SIYU_LOG", "warn");
    for (flag, value) in VECTOR {
        let value = match change {
            Some((changed, new)) if changed == flag => new,
            _ => value,
        };
        command.args([flag, value]);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_published_vector_opens_and_each_wrong_input_is_named() {
    assert_eq!(decrypt(None), (0, "1616140317555161061\n".into(), String::new()));
    let cases = [
        (("--msg-signature", "0000000000000000000000000000000000000000"), "msg_signature does not match"),
        (("--nonce", "263014781"), "msg_signature does not match"),
        (
            ("--encoding-aes-key", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"),
            "does not decrypt under this EncodingAESKey",
        ),
        (("--encoding-aes-key", "too-short"), "EncodingAESKey must be 43 base64 characters"),
        (("--receive-id", "wx-someone-else"), "is for receive id \"wx5823bf96d3bd56c7\", not \"wx-someone-else\""),
    ];
    for (change, reason) in cases {
        let (status, stdout, stderr) = decrypt(Some(change));
        assert_eq!(status, 2, "{change:?}: {stderr}");
        assert!(stdout.is_empty(), "{change:?} printed {stdout}");
        assert!(stderr.contains(reason), "{change:?}: {stderr}");
    }
}
