//! `hull ps`: the processes of a container, as runc lists them.

use super::Global;
use crate::container::cgroup;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Select one of: table or json
    #[arg(short = 'f', long, value_name = "FORMAT", default_value = "table")]
    pub format: String,
    pub id: String,
    /// Options for ps(1) (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let (_dir, st) = super::open(g, &a.id)?;
    let pids = match cgroup::of(&st) {
        Some(cg) => cgroup::call(cg.pids())?,
        None => crate::container::kill::container_pids(&st)?,
    };
    match a.format.as_str() {
        "json" => {
            super::outln!("{}", serde_json::to_string(&pids)?)?;
            return Ok(0);
        }
        "table" => {}
        other => anyhow::bail!("invalid format option: {other}"),
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| anyhow::anyhow!("run ps: {e}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|c| c == "PID")
        .ok_or_else(|| anyhow::anyhow!("ps output has no PID column"))?;
    super::outln!("{header}")?;
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            super::outln!("{line}")?;
        }
    }
    Ok(0)
}
