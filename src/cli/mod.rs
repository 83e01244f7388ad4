//! The command line: runc's subcommands, flags and exit codes, one module per subcommand.

mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod restore;
mod run;
mod spec;
mod start;
mod state;
mod update;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::log;

#[derive(Parser, Debug)]
#[command(
    name = "hull",
    about = "hull: an OCI container runtime",
    disable_version_flag = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// Enable debug logging
    #[arg(long)]
    pub debug: bool,
    /// Set the log file to write runtime logs to (default is stderr)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Set the log format ('text' (default), or 'json')
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub log_format: String,
    /// Root directory for storage of container state (default /run/hull, or
    /// $XDG_RUNTIME_DIR/hull when not root)
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Path to the criu binary used for checkpoint and restore
    #[arg(long, value_name = "PATH", hide = true)]
    pub criu: Option<String>,
    /// Enable systemd cgroup support: cgroupsPath is then "slice:prefix:name"
    #[arg(long)]
    pub systemd_cgroup: bool,
    /// Ignore cgroup permission errors ('true', 'false', or 'auto')
    #[arg(long, value_name = "VALUE", default_value = "auto")]
    pub rootless: String,
    /// crun's spelling for the cgroup driver: cgroupfs, systemd or disabled
    #[arg(long, value_name = "MANAGER", hide = true)]
    pub cgroup_manager: Option<String>,
    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,
}

impl Global {
    pub fn cgroup_driver(&self) -> crate::container::cgroup::Driver {
        use crate::container::cgroup::Driver;
        match self.cgroup_manager.as_deref() {
            Some("disabled") => Driver::Disabled,
            Some("systemd") => Driver::Systemd,
            _ if self.systemd_cgroup => Driver::Systemd,
            _ => Driver::Cgroupfs,
        }
    }

    pub fn root(&self) -> PathBuf {
        self.root
            .clone()
            .unwrap_or_else(crate::container::state::default_root)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container
    Create(create::Args),
    /// Execute the user-defined process in a created container
    Start(start::Args),
    /// Create and run a container
    Run(run::Args),
    /// Execute new process inside the container
    Exec(Box<exec::Args>),
    /// Output the state of a container
    State(state::Args),
    /// List containers started by hull with the given root
    List(list::Args),
    /// Send the specified signal (default: SIGTERM) to the container's init process
    Kill(kill::Args),
    /// Delete any resources held by the container
    Delete(delete::Args),
    /// Suspend all processes inside the container
    Pause(pause::Args),
    /// Resume all processes that were previously paused
    Resume(pause::Args),
    /// Display the processes running inside a container
    Ps(ps::Args),
    /// Update container resource constraints
    Update(Box<update::Args>),
    /// Display container events such as OOM notifications and resource usage statistics
    Events(events::Args),
    /// Create a new specification file
    Spec(spec::Args),
    /// Show the enabled features
    Features(features::Args),
    /// Checkpoint a running container (through criu)
    Checkpoint(Box<checkpoint::Args>),
    /// Restore a container from a previous checkpoint (through criu)
    Restore(Box<restore::Args>),
}

impl Command {
    /// Whether the command makes processes inside a container (init, exec'd processes).
    /// Exhaustive on purpose: a new subcommand must decide here whether it needs the runtime
    /// binary protection. restore counts: the runtime waits beside the restored tree (and,
    /// with a shared pid namespace, within its reach) as it does beside a created init.
    fn forks_into_container(&self) -> bool {
        match self {
            Command::Create(_) | Command::Run(_) | Command::Exec(_) | Command::Restore(_) => true,
            Command::Checkpoint(_)
            | Command::Start(_)
            | Command::State(_)
            | Command::List(_)
            | Command::Kill(_)
            | Command::Delete(_)
            | Command::Pause(_)
            | Command::Resume(_)
            | Command::Ps(_)
            | Command::Update(_)
            | Command::Events(_)
            | Command::Spec(_)
            | Command::Features(_) => false,
        }
    }
}

/// Parses argv, runs the subcommand, and returns the process exit code.
pub fn run() -> i32 {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match parse(argv.clone()) {
        Ok(cli) => cli,
        Err(e) => {
            let mut code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            if e.kind() == clap::error::ErrorKind::DisplayHelp {
                let (argv, subcommand) = normalize(&mut Cli::command(), argv);
                code = help_status(&argv, subcommand.as_deref());
            }
            return code;
        }
    };
    // A command that makes processes in a container first makes sure they can never reach
    // a writable runtime binary (CVE-2019-5736). It may re-execute this process, so it comes
    // before anything else opens an fd or has an effect, and before any fd is made
    // close-on-exec (below): the re-exec's execve would close the fds the caller passed. The
    // fds it opens are close-on-exec and closed again when it returns.
    let protected = cli
        .command
        .as_ref()
        .filter(|c| c.forks_into_container())
        .map(|_| crate::security::sealed_exe::ensure());
    // Nothing the caller left open reaches a hook or the container by accident: the container
    // (a clone) still has every fd, and passes on only LISTEN_FDS and --preserve-fds.
    let _ = crate::sys::exec::cloexec_from(3);
    // Before this process opens any fd (the log file is the first): the fds the caller passed
    // to the container must be claimed while their numbers cannot be hull's own.
    let mut passed = cli.command.as_ref().map(claim_passed_fds);
    let mut passed = move || passed.take().unwrap_or(Ok(Default::default()));
    if let Err(e) = setup_logging(&cli.global) {
        eprintln!("{e:#}");
        return 1;
    }
    match protected {
        Some(Ok(how)) => log::debug(&format!("runtime binary protected: {how:?}")),
        Some(Err(e)) => return fail(&e.into(), 1),
        None => {}
    }
    if cli.global.version {
        print_version();
        return 0;
    }
    let Some(command) = cli.command else {
        let _ = Cli::command().print_help();
        return 0;
    };
    let g = &cli.global;
    let result = match command {
        Command::Create(a) => create::run(g, a, passed()),
        Command::Start(a) => start::run(g, a),
        Command::Run(a) => run::run(g, a, passed()),
        Command::Exec(a) => exec::run(g, *a, passed()),
        Command::State(a) => state::run(g, a),
        Command::List(a) => list::run(g, a),
        Command::Kill(a) => kill::run(g, a),
        Command::Delete(a) => delete::run(g, a),
        Command::Pause(a) => pause::pause(g, a),
        Command::Resume(a) => pause::resume(g, a),
        Command::Ps(a) => ps::run(g, a),
        Command::Update(a) => update::run(g, *a),
        Command::Events(a) => events::run(g, a),
        Command::Spec(a) => spec::run(g, a),
        Command::Features(a) => features::run(g, a),
        Command::Checkpoint(a) => checkpoint::run(g, *a),
        Command::Restore(a) => restore::run(g, *a),
    };
    match result {
        Ok(code) => code,
        Err(e) => fail(&e, 1),
    }
}

/// Parses argv. Building clap's tree of all fifteen subcommands with every argument (and
/// dropping it again) was 43% of a short command's instructions, so a command line that names
/// its subcommand is first parsed with a tree of the global flags and that subcommand alone.
/// Anything else (no subcommand, help, an unknown name, an error of any kind) is parsed
/// again with the whole tree, so that help, suggestions, errors and exit codes are clap's
/// exactly as before.
pub fn parse(argv: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    let one = subcommand_named(&argv).and_then(|name| {
        let mut cmd = command_with(name);
        let (argv, _) = normalize(&mut cmd, argv.clone());
        let matches = cmd.try_get_matches_from_mut(argv).ok()?;
        Cli::from_arg_matches(&matches).ok()
    });
    match one {
        Some(cli) => Ok(cli),
        None => {
            let mut cmd = Cli::command();
            let (argv, _) = normalize(&mut cmd, argv);
            let matches = cmd.try_get_matches_from_mut(argv)?;
            Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
        }
    }
}

/// The global flags that take a value (as `--flag value`): what the scan for the subcommand
/// steps over.
const GLOBAL_VALUE_FLAGS: &[&str] = &[
    "log",
    "log-format",
    "root",
    "criu",
    "rootless",
    "cgroup-manager",
];

/// The subcommand argv names, when it names one plainly: the first word after the global
/// flags, with no help asked for anywhere (help lists the other subcommands).
fn subcommand_named(argv: &[std::ffi::OsString]) -> Option<&'static str> {
    let mut words = argv.iter().skip(1).map(|a| a.to_str());
    let name = loop {
        let word = words.next()??;
        let Some(flag) = word.strip_prefix('-') else {
            break word;
        };
        let flag = flag.strip_prefix('-').unwrap_or(flag);
        if !flag.contains('=') && GLOBAL_VALUE_FLAGS.contains(&flag) {
            words.next()?;
        }
    };
    if argv
        .iter()
        .any(|a| matches!(a.to_str(), Some("-h" | "--help" | "help")))
    {
        return None;
    }
    SUBCOMMANDS.iter().copied().find(|&n| n == name)
}

const SUBCOMMANDS: &[&str] = &[
    "create",
    "start",
    "run",
    "exec",
    "state",
    "list",
    "kill",
    "delete",
    "pause",
    "resume",
    "ps",
    "update",
    "events",
    "spec",
    "features",
    "checkpoint",
    "restore",
];

/// The root command (as derived for [`Cli`]) with the one subcommand `name`.
fn command_with(name: &'static str) -> clap::Command {
    use clap::Args;
    let root = clap::Command::new("hull")
        .disable_version_flag(true)
        .args_override_self(true);
    let root = Global::augment_args(root);
    let sub = clap::Command::new(name);
    let sub = match name {
        "create" => create::Args::augment_args(sub),
        "start" => start::Args::augment_args(sub),
        "run" => run::Args::augment_args(sub),
        "exec" => exec::Args::augment_args(sub),
        "state" => state::Args::augment_args(sub),
        "list" => list::Args::augment_args(sub),
        "kill" => kill::Args::augment_args(sub),
        "delete" => delete::Args::augment_args(sub),
        "pause" | "resume" => pause::Args::augment_args(sub),
        "ps" => ps::Args::augment_args(sub),
        "update" => update::Args::augment_args(sub),
        "events" => events::Args::augment_args(sub),
        "spec" => spec::Args::augment_args(sub),
        "checkpoint" => checkpoint::Args::augment_args(sub),
        "restore" => restore::Args::augment_args(sub),
        _ => features::Args::augment_args(sub),
    };
    root.subcommand(sub)
}

/// `--preserve-fds` (and LISTEN_FDS for create and run, as runc) checked and claimed.
/// podman takes `checkpoint --help` exiting 0 as "this runtime can checkpoint": where criu
/// is missing or `criu check` fails (an unsupported kernel, no root), checkpoint and restore
/// print their help and exit 1, saying why.
fn help_status(argv: &[std::ffi::OsString], subcommand: Option<&str>) -> i32 {
    let Some(sub) = subcommand.filter(|s| matches!(*s, "checkpoint" | "restore")) else {
        return 0;
    };
    // The global --criu, given before the subcommand.
    let words: Vec<&str> = argv.iter().filter_map(|a| a.to_str()).collect();
    let mut criu = None;
    for (i, w) in words.iter().enumerate().take_while(|(_, w)| **w != sub) {
        if let Some(v) = w.strip_prefix("--criu=") {
            criu = Some(v);
        } else if *w == "--criu" {
            criu = words.get(i + 1).copied();
        }
    }
    match crate::criu::Criu::new(criu).check() {
        Ok(()) => 0,
        Err(why) => {
            eprintln!("checkpoint/restore cannot work on this host: {why}");
            1
        }
    }
}

/// `--preserve-fds` (and LISTEN_FDS for create and run, as runc) checked and claimed.
fn claim_passed_fds(command: &Command) -> crate::Result<crate::process::fds::Passed> {
    use crate::process::fds::{claim, Passed};
    match command {
        Command::Create(a) => claim(a.flags.preserve_fds, true),
        Command::Run(a) => claim(a.flags.preserve_fds, true),
        Command::Exec(a) => claim(a.preserve_fds, false),
        _ => Ok(Passed::default()),
    }
}

/// Reports a failure as runc does: a log line, and the bare message on stderr when the log
/// goes to a file.
/// One line on stdout. A reader that has gone away (`hull list | head -1`) ends hull the way
/// it ends runc, by SIGPIPE, with nothing on stderr; any other write error is reported.
pub(crate) fn out(line: std::fmt::Arguments) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            crate::sys::process::die_of_sigpipe()
        }
        other => other.map_err(|e| anyhow::anyhow!("write to stdout: {e}")),
    }
}

/// `println!` for the commands' output, through [`out`].
macro_rules! outln {
    ($($arg:tt)*) => { $crate::cli::out(format_args!($($arg)*)) };
}
pub(crate) use outln;

/// Reports a failure as runc does: a log line, and the bare message on stderr when the log
/// goes to a file.
pub fn fail(e: &anyhow::Error, code: i32) -> i32 {
    let msg = format!("{e:#}");
    log::error(&msg);
    if log::to_file() {
        eprintln!("{msg}");
    }
    code
}

fn setup_logging(g: &Global) -> anyhow::Result<()> {
    let format = match g.log_format.as_str() {
        "text" => log::Format::Text,
        "json" => log::Format::Json,
        other => anyhow::bail!("invalid log-format: {other}"),
    };
    let file = match &g.log {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("open log file {}: {e}", path.display()))?,
        ),
        None => None,
    };
    log::init(file, format, g.debug);
    Ok(())
}

fn print_version() {
    let mut text = format!(
        "hull version {}\ncommit: {}\nspec: {}\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("HULL_COMMIT").unwrap_or("unknown"),
        crate::OCI_VERSION
    );
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        text.push_str(&format!(
            "libseccomp: {}.{}.{}\n",
            v.major, v.minor, v.micro
        ));
    }
    // Not println!: a reader that stops early (`hull --version | head -1`) is no error.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
}

/// Go's flag parser (which runc's callers grew up with) accepts `-bundle x` for `--bundle x`.
/// Rewrite single-dash long options into the double-dash form, each checked against the
/// options of the command it is given to (the global ones before the subcommand, the
/// subcommand's after it), until the container's own command starts: the first word of a
/// trailing argument list (`exec ID CMD ARGS...`) or a `--`. From there on every word is the
/// container's, passed on unchanged: `exec ID sh -c '...' x -user root` gives the process
/// `-user root`, as runc does. Values of options are never rewritten (`--pids-limit -1`).
/// The trailing list starts right after the positionals before it, whatever its first word
/// looks like: runc's `exec` and `ps` stop reading options at the id (urfave/cli's
/// SkipArgReorder), so `exec ID -user 0 id` runs `-user`, and `ps ID -f` hands `-f` to ps;
/// hull marks the spot with a `--` of its own for clap.
pub fn normalize_args(argv: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    normalize(&mut Cli::command(), argv).0
}

/// `normalize_args` against `root` (the whole tree, or the root with one subcommand), and
/// the subcommand's name when there is one.
fn normalize(
    root: &mut clap::Command,
    argv: Vec<std::ffi::OsString>,
) -> (Vec<std::ffi::OsString>, Option<String>) {
    // Built, so the generated --help and the help subcommand are known too.
    root.build();
    let root = &*root;
    let mut cmd = root;
    let mut positionals = 0;
    let mut subcommand = None;
    let mut out = Vec::with_capacity(argv.len());
    let mut words = argv.into_iter();
    out.extend(words.next());
    while let Some(word) = words.next() {
        let Some(s) = word.to_str().map(str::to_owned) else {
            out.push(word);
            continue;
        };
        let s = s.as_str();
        if s == "--" {
            out.push(word);
            break;
        }
        if let Some(body) = s.strip_prefix("--") {
            let takes_value = option(cmd, body).is_some_and(takes_value);
            out.push(word);
            if takes_value && !body.contains('=') {
                out.extend(words.next());
            }
            continue;
        }
        if let Some(body) = s.strip_prefix('-').filter(|b| !b.is_empty()) {
            if let Some(long) = option(cmd, body).filter(|_| name_of(body).len() > 1) {
                let takes_value = takes_value(long);
                out.push(format!("-{s}").into());
                if takes_value && !body.contains('=') {
                    out.extend(words.next());
                }
                continue;
            }
            // Short options: the last one of a cluster may take the next word as its value.
            let last = body.chars().last().expect("not empty");
            let takes_value = body.chars().count() == 1
                && cmd
                    .get_arguments()
                    .any(|a| a.get_short() == Some(last) && takes_value(a));
            out.push(word);
            if takes_value {
                out.extend(words.next());
            }
            continue;
        }
        // A word that is not an option: the subcommand, or one of its positionals.
        if std::ptr::eq(cmd, root) {
            match root.find_subcommand(s) {
                Some(sub) => {
                    cmd = sub;
                    subcommand = Some(sub.get_name().to_string());
                    positionals = 0;
                    out.push(word);
                    continue;
                }
                None => {
                    out.push(word);
                    break;
                }
            }
        }
        let trailing = |n| {
            cmd.get_positionals()
                .nth(n)
                .is_some_and(|a| a.is_trailing_var_arg_set())
        };
        if trailing(positionals) {
            out.push(word);
            break;
        }
        out.push(word);
        positionals += 1;
        if trailing(positionals) {
            let rest: Vec<_> = words.by_ref().collect();
            if !rest.is_empty() {
                out.push("--".into());
                out.extend(rest);
            }
            break;
        }
    }
    out.extend(words);
    (out, subcommand)
}

/// `name` or `name=value` without its dashes.
fn name_of(body: &str) -> &str {
    body.split('=').next().unwrap_or(body)
}

/// The option of `cmd` with this long name.
fn option<'a>(cmd: &'a clap::Command, body: &str) -> Option<&'a clap::Arg> {
    let name = name_of(body);
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|l| l.contains(&name))
    })
}

fn takes_value(a: &clap::Arg) -> bool {
    a.get_action().takes_values()
}

/// Opens and loads a container for the commands that take an existing id.
pub fn open(
    g: &Global,
    id: &str,
) -> anyhow::Result<(crate::container::Dir, crate::container::State)> {
    let dir = crate::container::Dir::open(&g.root(), id)?;
    let state = dir.load()?;
    if state.creating {
        // We hold the lock, so the create that wrote this is gone.
        anyhow::bail!(
            "container {id} was never created: its create was killed part way (delete it to \
             remove what is left)"
        );
    }
    Ok((dir, state))
}

/// `--systemd-cgroup` (or crun's `--cgroup-manager systemd`) needs a running systemd.
pub fn check_cgroup_driver(g: &Global) -> anyhow::Result<()> {
    let systemd = g.systemd_cgroup || g.cgroup_manager.as_deref() == Some("systemd");
    if let Some(m) = g.cgroup_manager.as_deref() {
        if !matches!(m, "systemd" | "cgroupfs" | "disabled") {
            anyhow::bail!("--cgroup-manager {m:?}: expected systemd, cgroupfs or disabled");
        }
    }
    if systemd && !std::path::Path::new("/run/systemd/system").is_dir() {
        // runc's words, with the flag and what is missing named.
        let flag = if g.systemd_cgroup {
            "--systemd-cgroup"
        } else {
            "--cgroup-manager systemd"
        };
        anyhow::bail!(
            "systemd cgroup flag passed ({flag}), but systemd support for managing cgroups is not available (systemd is not running: no /run/systemd/system)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize_args(args.iter().map(|s| s.into()).collect())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn single_dash_long_flags() {
        assert_eq!(
            norm(&[
                "hull",
                "-root",
                "/r",
                "create",
                "-bundle",
                "b",
                "-pid-file=p",
                "-b",
                "x",
                "id"
            ]),
            [
                "hull",
                "--root",
                "/r",
                "create",
                "--bundle",
                "b",
                "--pid-file=p",
                "-b",
                "x",
                "id"
            ]
        );
        assert_eq!(
            norm(&["hull", "kill", "id", "-9"]),
            ["hull", "kill", "id", "-9"]
        );
    }

    #[test]
    fn the_containers_command_is_never_rewritten() {
        // runc: `exec ID sh -c 'echo "$@"' x -user root` prints "-user root".
        assert_eq!(
            norm(&[
                "hull",
                "exec",
                "c",
                "sh",
                "-c",
                "echo \"$@\"",
                "x",
                "-user",
                "root"
            ]),
            [
                "hull",
                "exec",
                "c",
                "--",
                "sh",
                "-c",
                "echo \"$@\"",
                "x",
                "-user",
                "root"
            ]
        );
        // Options before the id, in both spellings; their values are kept as they are. After
        // the id every word is the command's (runc's exec stops reading options there): a
        // `--` marks the spot for clap, also before a `--` of the caller's, which is the
        // command's first word under runc.
        assert_eq!(
            norm(&[
                "hull", "exec", "-user", "1", "-env", "-cwd", "c", "-cwd", "/tmp", "id", "-cwd"
            ]),
            [
                "hull", "exec", "--user", "1", "--env", "-cwd", "c", "--", "-cwd", "/tmp", "id",
                "-cwd"
            ]
        );
        assert_eq!(
            norm(&["hull", "exec", "-u", "-user", "c", "--", "-tty"]),
            ["hull", "exec", "-u", "-user", "c", "--", "--", "-tty"]
        );
        // A word that is an option of another subcommand is not this one's.
        assert_eq!(
            norm(&["hull", "run", "-bundle", "b", "c", "-user"]),
            ["hull", "run", "--bundle", "b", "c", "-user"]
        );
        // ps, as runc's, hands every word after the id to ps(1).
        assert_eq!(
            norm(&["hull", "ps", "-format", "json", "c", "-ef"]),
            ["hull", "ps", "--format", "json", "c", "--", "-ef"]
        );
        assert_eq!(
            norm(&["hull", "ps", "c", "-format", "json"]),
            ["hull", "ps", "c", "--", "-format", "json"]
        );
        assert_eq!(norm(&["hull", "exec", "c"]), ["hull", "exec", "c"]);
        // Options after the id of create and run still are (urfave/cli moves them before the
        // arguments there).
        assert_eq!(
            norm(&["hull", "create", "c", "-bundle", "b", "-pid-file", "p"]),
            ["hull", "create", "c", "--bundle", "b", "--pid-file", "p"]
        );
        assert_eq!(
            norm(&["hull", "-log-format=json", "-help"]),
            ["hull", "--log-format=json", "--help"]
        );
    }

    #[test]
    fn exec_gets_the_command_unchanged() {
        let argv = normalize_args(
            [
                "hull",
                "exec",
                "-user",
                "0",
                "c",
                "sh",
                "-c",
                "echo \"$@\"",
                "x",
                "-user",
                "root",
            ]
            .iter()
            .map(|s| s.into())
            .collect(),
        );
        match Cli::try_parse_from(argv).unwrap().command {
            Some(Command::Exec(a)) => {
                assert_eq!(a.user.as_deref(), Some("0"));
                assert_eq!(a.id, "c");
                assert_eq!(a.command, ["sh", "-c", "echo \"$@\"", "x", "-user", "root"]);
            }
            other => panic!("{other:?}"),
        }
    }

    /// The one-subcommand tree parses every command line as the whole tree does.
    #[test]
    fn one_subcommand_parses_as_the_whole_tree() {
        use clap::FromArgMatches;
        let lines: &[&[&str]] = &[
            &[
                "hull",
                "--root",
                "/r",
                "--log-format",
                "json",
                "create",
                "-b",
                "/b",
                "--pid-file=/p",
                "id",
            ],
            &["hull", "-root", "/r", "--debug", "start", "id"],
            &[
                "hull",
                "--log=/l",
                "run",
                "-d",
                "--preserve-fds",
                "2",
                "-bundle",
                "/b",
                "id",
            ],
            &[
                "hull", "exec", "-t", "--env", "A=1", "-e", "B=2", "id", "sh", "-c", "x",
            ],
            &[
                "hull",
                "exec",
                "--process",
                "/p.json",
                "--cap",
                "CAP_KILL",
                "id",
            ],
            &["hull", "--systemd-cgroup", "delete", "-f", "id"],
            &["hull", "kill", "--all", "id", "9"],
            &["hull", "kill", "id", "-9"],
            &["hull", "list", "-f", "json", "-q"],
            &["hull", "ps", "-f", "json", "id"],
            &["hull", "ps", "id", "--", "-o", "pid"],
            &[
                "hull",
                "update",
                "--pids-limit",
                "-1",
                "--memory",
                "-1",
                "id",
            ],
            &["hull", "events", "--stats", "id"],
            &["hull", "pause", "id"],
            &["hull", "resume", "id"],
            &["hull", "state", "id"],
            &["hull", "spec", "--rootless"],
            &[
                "hull",
                "--rootless",
                "true",
                "--cgroup-manager",
                "cgroupfs",
                "features",
            ],
        ];
        for line in lines {
            let argv: Vec<std::ffi::OsString> = line.iter().map(|s| s.into()).collect();
            let name = subcommand_named(&argv).unwrap_or_else(|| panic!("{line:?}"));
            let mut one = command_with(name);
            let matches = one
                .try_get_matches_from_mut(normalize(&mut one.clone(), argv.clone()).0)
                .unwrap_or_else(|e| panic!("{line:?}: {e}"));
            let one = Cli::from_arg_matches(&matches).unwrap();
            let whole = Cli::try_parse_from(normalize_args(argv)).unwrap();
            assert_eq!(format!("{one:?}"), format!("{whole:?}"), "{line:?}");
        }
        for line in [
            &["hull"][..],
            &["hull", "--help"],
            &["hull", "create", "--help"],
            &["hull", "help", "create"],
            &["hull", "crate", "id"],
            &["hull", "--root"],
        ] {
            let argv: Vec<std::ffi::OsString> = line.iter().map(|s| s.into()).collect();
            assert_eq!(subcommand_named(&argv), None, "{line:?}");
        }
        // Every subcommand of the whole tree has its one-subcommand tree.
        let names: Vec<_> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        assert_eq!(names, SUBCOMMANDS);
    }

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_after_the_id() {
        let cli = Cli::try_parse_from(["hull", "create", "web", "--bundle", "/b"]).unwrap();
        match cli.command {
            Some(Command::Create(a)) => {
                assert_eq!(a.id, "web");
                assert_eq!(a.flags.bundle, std::path::PathBuf::from("/b"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn update_takes_minus_one_as_a_value() {
        let argv = normalize_args(
            [
                "hull",
                "update",
                "--pids-limit",
                "-1",
                "--memory",
                "-1",
                "--cpu-quota",
                "-1",
                "web",
            ]
            .iter()
            .map(|s| s.into())
            .collect(),
        );
        match Cli::try_parse_from(argv).unwrap().command {
            Some(Command::Update(a)) => {
                assert_eq!(a.pids_limit, Some(-1));
                assert_eq!(a.memory.as_deref(), Some("-1"));
                assert_eq!(a.cpu_quota, Some(-1));
                assert_eq!(a.id, "web");
            }
            other => panic!("{other:?}"),
        }
    }
}
