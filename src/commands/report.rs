//! `report DIR [--markdown FILE]`: rebuild report.html (and a short markdown summary).

use anyhow::Result;

use crate::analysis::findings::markdown;
use crate::analysis::select::load_dir;
use crate::analysis::tables::effects;
use crate::cli::ReportArgs;
use crate::report::data::write_report;
use crate::store::atomic::write_bytes_atomic;
use crate::store::manifest::Manifest;

pub(crate) fn report(a: &ReportArgs) -> Result<()> {
    let (grid, runs) = load_dir(&a.dir)?;
    let m = Manifest::load_dir(&a.dir)?;
    let stats = runs.cell_stats(&grid);
    let eff = effects(&grid, &runs, &stats);
    write_report(&a.dir, &grid, &runs, &stats, &eff, &m)?;
    eprintln!("wrote {}", a.dir.join(crate::store::REPORT).display());
    if let Some(md) = &a.markdown {
        let text = markdown(&grid, &runs, &m)?;
        write_bytes_atomic(md, text.as_bytes())?;
        eprintln!("wrote {}", md.display());
    }
    Ok(())
}
