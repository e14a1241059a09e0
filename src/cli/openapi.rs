//! `provisiond openapi`: the OpenAPI document `GET /openapi.json` serves, on stdout.

use std::io::Write;

pub fn run() -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(crate::openapi::json().as_bytes())?;
    out.flush()?;
    Ok(())
}
