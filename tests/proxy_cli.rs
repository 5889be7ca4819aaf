//! `faultline proxy` as a person runs it: a fault from flags, traffic, Ctrl-C, a summary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};

#[test]
fn proxy_command_applies_flag_faults_and_reports_on_ctrl_c() {
    // A tiny HTTP upstream that answers every request with 200.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in upstream.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            });
        }
    });
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", &up.to_string(), "--http", "--seed", "3"])
        .args(["--fault", "http.status=503,http.first=1", "--report"])
        .arg(report.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "proxy exited early");
        if let Some(rest) = line.strip_prefix("faultline proxy: ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    assert!(line.contains("seed 3"), "{line}");

    let mut s = TcpStream::connect(&addr).unwrap();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: r1\r\n\r\n").unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap();
        statuses.push(String::from_utf8_lossy(&buf[..n]).split_whitespace().nth(1).unwrap().to_owned());
    }
    assert_eq!(statuses, ["503", "200"]);

    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(rest.contains("requests     2 (1 acted on by a fault)"), "{rest}");
    assert!(rest.contains("attempts     at most 2 for one request (r1)"), "{rest}");
    let obs: serde_json::Value = serde_json::from_slice(&std::fs::read(report.path()).unwrap()).unwrap();
    assert_eq!(obs["seed"], 3);
    assert_eq!(obs["requests"][0]["status"], 503);
    assert_eq!(obs["requests"][1]["attempt"], 2);
}

#[test]
fn bad_fault_flags_exit_2_with_the_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--fault", "slicer.average_size=0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("slicer.average_size must be at least 1 byte"));
}

#[test]
fn a_port_already_taken_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["proxy", "--listen", &addr, "--upstream", "127.0.0.1:9"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")) && err.contains("in use"), "{err}");
}
