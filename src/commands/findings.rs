//! `findings`: writes FINDINGS.md from the article's result directories, and the summary block
//! of the README between its markers.

use anyhow::{Context, Result};

use crate::analysis::findings::{Article, document, splice_readme};
use crate::cli::FindingsArgs;
use crate::store::atomic::write_bytes_atomic;

pub(crate) fn findings(a: &FindingsArgs) -> Result<()> {
    let article = Article::load(&a.results)?;
    let (text, summary) = document(&article, &a.results.display().to_string())?;
    write_bytes_atomic(&a.out, text.as_bytes())?;
    eprintln!("wrote {}", a.out.display());
    if let Some(readme) = &a.readme {
        let old = std::fs::read_to_string(readme).with_context(|| format!("cannot read {} (--readme)", readme.display()))?;
        let new = splice_readme(&old, &summary).with_context(|| readme.display().to_string())?;
        if new != old {
            write_bytes_atomic(readme, new.as_bytes())?;
            eprintln!("updated the findings summary in {}", readme.display());
        }
    }
    Ok(())
}
