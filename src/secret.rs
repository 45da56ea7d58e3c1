//! The sudo password fleet asks for once: wiped from memory when dropped, never shown.

use std::sync::Arc;

use zeroize::Zeroizing;

/// A password, wiped from memory when dropped; shown as `<secret>` everywhere.
#[derive(Clone)]
pub struct Secret(Arc<Zeroizing<String>>);

impl Secret {
    pub fn new(text: Zeroizing<String>) -> Secret {
        Secret(Arc::new(text))
    }

    /// The line sudo reads: the password and a newline.
    pub fn line(&self) -> Zeroizing<Vec<u8>> {
        let mut line = Zeroizing::new(Vec::with_capacity(self.0.len() + 1));
        line.extend_from_slice(self.0.as_bytes());
        line.push(b'\n');
        line
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}
