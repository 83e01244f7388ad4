//! `hull list`: every container under --root.

use super::Global;
use crate::container::state::{self, Dir};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Select one of: table or json
    #[arg(short = 'f', long, value_name = "FORMAT", default_value = "table")]
    pub format: String,
    /// Display only container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let root = g.root();
    let mut rows = Vec::new();
    for id in state::list_ids(&root)? {
        // A create still running shows as "creating"; one deleted meanwhile is skipped.
        let Ok((dir, st)) = Dir::observe(&root, &id) else {
            continue;
        };
        let status = state::status(&dir, &st);
        rows.push((st, status));
    }
    if a.quiet {
        for (st, _) in &rows {
            super::outln!("{}", st.id)?;
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => {
            let list: Vec<_> = rows.iter().map(|(st, status)| st.public(*status)).collect();
            super::outln!("{}", serde_json::to_string(&list)?)?;
        }
        "table" => {
            let mut table =
                vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
            for (st, status) in &rows {
                let p = st.public(*status);
                table.push([
                    p.id.to_string(),
                    p.pid.to_string(),
                    p.status.to_string(),
                    p.bundle.display().to_string(),
                    p.created.to_string(),
                    p.owner.to_string(),
                ]);
            }
            print_table(&table)?;
        }
        other => anyhow::bail!("invalid format option: {other}"),
    }
    Ok(0)
}

/// Columns padded like Go's tabwriter with runc's settings (min width 12, padding 1).
fn print_table(rows: &[[String; 6]]) -> anyhow::Result<()> {
    let mut widths = [0usize; 6];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len() + 1).max(12);
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}", width = widths[i]));
            }
        }
        super::outln!("{}", line.trim_end())?;
    }
    Ok(())
}
