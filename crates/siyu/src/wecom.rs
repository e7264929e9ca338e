//! `siyu wecom decrypt`: checks and opens one WeCom callback by hand, with the same code the
//! callback endpoint uses (`siyu_channels::wecom`), so anyone can check a published vector or a
//! captured callback. Exit status 2 and a line naming the signature, key or receive id when one is
//! wrong.

use clap::Subcommand;

/// `siyu wecom …`.
#[derive(Subcommand)]
pub enum WecomCommand {
    /// Verifies a callback's msg_signature, decrypts its Encrypt value and prints the message.
    Decrypt {
        /// The callback's Token.
        #[arg(long)]
        token: String,
        /// The callback's 43-character EncodingAESKey.
        #[arg(long)]
        encoding_aes_key: String,
        /// The corp id (or suite id, app id) the message must be for; empty for robots that send none.
        #[arg(long, default_value = "")]
        receive_id: String,
        /// The timestamp query parameter.
        #[arg(long)]
        timestamp: String,
        /// The nonce query parameter.
        #[arg(long)]
        nonce: String,
        /// The msg_signature query parameter.
        #[arg(long)]
        msg_signature: String,
        /// The Encrypt value (the body's, or the URL-decoded echostr of a URL check).
        #[arg(long)]
        encrypt: String,
    },
}

/// Runs a `wecom` command; returns the text to print or the reason it failed.
pub fn run(command: WecomCommand) -> Result<String, String> {
    match command {
        WecomCommand::Decrypt { token, encoding_aes_key, receive_id, timestamp, nonce, msg_signature, encrypt } => {
            let crypto = siyu_channels::wecom::CallbackCrypto::new(&token, &encoding_aes_key, &receive_id)
                .map_err(|e| e.to_string())?;
            crypto.decrypt(&msg_signature, &timestamp, &nonce, &encrypt).map_err(|e| e.to_string())
        }
    }
}
