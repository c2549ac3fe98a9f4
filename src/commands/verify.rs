//! `verify DIR`: audit a results directory — checksums, coverage of the grid, tables recomputed
//! from runs, and a sample of runs retrained bit for bit. Exit 0 only if everything holds.

use anyhow::Result;

use crate::cli::VerifyArgs;
use crate::error::Error;
use crate::exec::verify::{Status, verify_dir};

pub(crate) fn verify(a: &VerifyArgs) -> Result<()> {
    let v = verify_dir(&a.dir, a.sample)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "verify {} — initgrid {}, config hash {}, {} runs",
            v.dir, v.initgrid_version, v.config_hash, v.runs
        );
        for c in &v.checks {
            let status = match c.status {
                Status::Ok => "ok",
                Status::Failed => "FAILED",
                Status::Skipped => "skipped",
            };
            for (i, d) in c.details.iter().enumerate() {
                if i == 0 {
                    println!("  {status:<8} {:<10} {d}", c.name);
                } else {
                    println!("  {:<8} {:<10} {d}", "", "");
                }
            }
        }
        if v.verified {
            println!("verified: {} is intact and its sampled runs reproduce", v.dir);
        }
    }
    if !v.verified {
        let failed: Vec<String> = v
            .checks
            .iter()
            .filter(|c| c.status == Status::Failed)
            .map(|c| format!("{} ({})", c.name, c.details.first().map(String::as_str).unwrap_or("")))
            .collect();
        return Err(Error::Mismatch(format!("{} does not verify: {}", v.dir, failed.join("; "))).into());
    }
    Ok(())
}
