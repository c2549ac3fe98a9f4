//! `findings`: writes FINDINGS.md from the article's result directories.

use anyhow::Result;

use crate::analysis::findings::generate;
use crate::cli::FindingsArgs;
use crate::store::atomic::write_bytes_atomic;

pub(crate) fn findings(a: &FindingsArgs) -> Result<()> {
    let text = generate(&a.results)?;
    write_bytes_atomic(&a.out, text.as_bytes())?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
