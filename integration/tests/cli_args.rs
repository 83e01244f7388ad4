//! The command line against runc's (Debian's 1.1.5): Go's flag parser takes `-user` for
//! `--user`, and hull rewrites such words for clap, but only its own options: the container's
//! command and its arguments reach the process unchanged. Each case runs under both runtimes
//! and must print the same, and what is expected.

use hull_integration::*;

const RUNC: &str = "/usr/sbin/runc";

fn runtimes() -> [Runtime; 2] {
    assert!(
        std::path::Path::new(RUNC).exists(),
        "runc is required for the differential tests (hack/setup.sh installs it)"
    );
    [Runtime::new(), Runtime::with_bin(RUNC.into())]
}

#[test]
fn exec_passes_the_command_and_its_arguments_unchanged() {
    let cases: &[(&[&str], &str)] = &[
        // The case: runc prints "-user root".
        (
            &["ID", "sh", "-c", "echo \"$@\"", "x", "-user", "root"],
            "-user root\n",
        ),
        (
            &[
                "ID",
                "sh",
                "-c",
                "echo \"$@\"",
                "x",
                "--user",
                "root",
                "-e",
                "A=1",
                "-cwd",
            ],
            "--user root -e A=1 -cwd\n",
        ),
        (
            &["ID", "sh", "-c", "echo \"$@\"", "x", "--", "-tty"],
            "-- -tty\n",
        ),
        // runc reads no option after the id (urfave/cli's SkipArgReorder): the next word is
        // the command, whatever it looks like. The rootfs has programs named `-user` and `--`.
        (&["ID", "-user", "65534", "id", "-u"], "ran 65534 id -u\n"),
        (&["ID", "--", "id", "-u"], "ran id -u\n"),
        // hull's options before the id, in both spellings, with and without `=`.
        (&["-user", "65534", "ID", "id", "-u"], "65534\n"),
        (
            &[
                "--user=65534",
                "-cwd",
                "/tmp",
                "ID",
                "sh",
                "-c",
                "id -u; pwd",
            ],
            "65534\n/tmp\n",
        ),
        (
            &[
                "-cwd=/tmp",
                "-env",
                "A=-user",
                "ID",
                "sh",
                "-c",
                "pwd; echo $A",
            ],
            "/tmp\n-user\n",
        ),
    ];
    for rt in runtimes() {
        let b = Bundle::sh("sleep 60");
        for name in ["-user", "--"] {
            let path = b.rootfs().join("bin").join(name);
            std::fs::write(&path, "#!/bin/sh\necho ran \"$@\"\n").unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        let id = unique("cli-exec");
        ok(&rt.run_detached(&id, &b));
        for (args, want) in cases {
            let args: Vec<&str> = args
                .iter()
                .map(|a| if *a == "ID" { id.as_str() } else { a })
                .collect();
            let mut argv = vec!["exec"];
            argv.extend(&args);
            let out = ok(&rt.cmd(&argv));
            assert_eq!(out, *want, "{} exec {args:?}", rt.bin.display());
        }
        // ps, too, hands everything after the id to ps(1): `-o pid` is not hull's option.
        let out = ok(&rt.cmd(&["ps", &id, "-o", "pid"]));
        assert_eq!(
            out.lines().next().map(str::trim),
            Some("PID"),
            "{} ps ID -o pid: {out}",
            rt.bin.display()
        );
        ok(&rt.cmd(&["delete", "-f", &id]));
    }
}

#[test]
fn run_takes_options_before_and_after_the_id() {
    let b = Bundle::sh("echo \"$@\"");
    let mut b = b;
    b.config["process"]["args"] =
        serde_json::json!(["sh", "-c", "echo \"$@\"", "x", "-user", "root", "-bundle"]);
    b.save();
    let bundle = b.path().to_str().unwrap();
    for rt in runtimes() {
        for shape in [
            vec!["run", "-bundle", bundle, "ID"],
            vec!["run", "ID", "-bundle", bundle],
            vec!["run", "ID", "--bundle=", bundle],
            vec!["run", "ID", "-bundle=", bundle],
            vec!["run", "-b", bundle, "ID", "-keep"],
        ] {
            let id = unique("cli-run");
            // `--bundle=` then the path: one word, as a caller would write it.
            let mut argv: Vec<String> = Vec::new();
            let mut words = shape.iter().peekable();
            while let Some(w) = words.next() {
                let w = if *w == "ID" { id.as_str() } else { w };
                if w.ends_with('=') {
                    argv.push(format!("{w}{}", words.next().unwrap()));
                } else {
                    argv.push(w.to_string());
                }
            }
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let out = ok(&rt.cmd(&argv));
            assert_eq!(out, "-user root -bundle\n", "{} {argv:?}", rt.bin.display());
            if shape.contains(&"-keep") {
                assert_eq!(rt.status(&id).as_deref(), Some("stopped"), "{argv:?} kept");
                ok(&rt.cmd(&["delete", &id]));
            }
        }
        // A second argument after the id is an error under both, and nothing is left.
        let id = unique("cli-run");
        let out = rt.cmd(&["run", "-b", bundle, &id, "extra", "-user"]);
        assert!(
            !out.status.success(),
            "{}: extra argument taken",
            rt.bin.display()
        );
        assert!(
            rt.ids().is_empty(),
            "{}: {:?} left",
            rt.bin.display(),
            rt.ids()
        );
    }
}
