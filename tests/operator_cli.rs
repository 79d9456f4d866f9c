//! The operator CLI end to end (issue 17, item 5; docs/cli.md): the real
//! binary, with `--url`/`--token` and no database settings at all, against
//! one served application shared by the whole file (each test works in a
//! tenant of its own). `events tail` is followed through a loopback proxy
//! that cuts the connection and refuses for a while, to show that it
//! resumes with no gap and no duplicate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use alertledger_domain::values::Role;
use alertledger_ssm::scripted::ScriptedSsm;
use alertledger_ssm::SsmService;
use serde_json::Value;
use support::remediation::{
    alert_and_incident, approval_until, define_runbook, incident_until, prepare_tenant,
    quick_background,
};
use support::{generic_alert, TestApp, TestTenant};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::task::AbortHandle;

/// The application every test of this file talks to, on a runtime of its
/// own that outlives each test.
struct Shared {
    runtime: Runtime,
    app: TestApp,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let ssm = Arc::new(ScriptedSsm::new()) as Arc<dyn SsmService>;
        let app = runtime.block_on(TestApp::spawn_with_background(quick_background(ssm)));
        Shared { runtime, app }
    })
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    shared().runtime.block_on(future)
}

/// `alertledger ARGS --url <app>` with `token`, without any database setting.
fn cli(args: &[&str], token: Option<&str>) -> Output {
    cli_at(&shared().app.address, args, token)
}

fn cli_at(url: &str, args: &[&str], token: Option<&str>) -> Output {
    let mut command = command(url, args, token);
    command.output().expect("run alertledger")
}

fn command(url: &str, args: &[&str], token: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_alertledger"));
    command
        .args(args)
        .args(["--url", url])
        .env_remove("DATABASE_URL")
        .env_remove("ALERTLEDGER_OWNER_DATABASE_URL")
        .env_remove("ALERTLEDGER_TOKEN")
        .env_remove("ALERTLEDGER_CONFIG")
        .env("ALERTLEDGER_LOG_FORMAT", "json");
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    command
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs and requires exit 0; returns stdout.
fn ok(args: &[&str], token: &str) -> String {
    let output = cli(args, Some(token));
    assert_eq!(
        output.status.code(),
        Some(0),
        "alertledger {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

fn json(args: &[&str], token: &str) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let text = ok(&all, token);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {text}"))
}

fn tenant(slug: &str) -> TestTenant {
    block_on(shared().app.create_tenant(slug))
}

fn incident_status(tenant: &TestTenant, id: &str) -> Value {
    block_on(incident_until(&shared().app, tenant, id, |_| true))
}

#[test]
fn an_incident_is_listed_shown_and_worked_through_from_the_command_line() {
    let app = &shared().app;
    let tenant = tenant("cli-incidents");
    let incident = block_on(alert_and_incident(app, &tenant));
    let technician = app.token(Role::Technician, &[tenant.id]);
    let tenant_id = tenant.id.to_string();

    let table = ok(&["incidents", "list", "--tenant", &tenant_id], &technician);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    for column in ["ID", "STATUS", "SEVERITY", "PRIORITY", "ASSET", "OPENED"] {
        assert!(header.contains(column), "no {column} in {header:?}");
    }
    let row = lines.next().unwrap();
    assert!(row.starts_with(&incident), "{table}");
    assert!(
        row.contains("new") && row.contains("critical") && row.contains("web01"),
        "{row}"
    );
    // Columns line up: every value starts where its header does.
    assert_eq!(row.find("critical"), header.find("SEVERITY"), "{table}");

    let page = json(&["incidents", "list", "--tenant", &tenant_id], &technician);
    assert_eq!(page["items"][0]["id"], incident.as_str());
    assert!(
        page.get("next_cursor").is_some(),
        "the API's body as is: {page}"
    );

    let shown = ok(&["incidents", "show", &incident], &technician);
    assert!(
        shown.contains("web01") && shown.contains("timeline"),
        "{shown}"
    );
    assert!(shown.contains("IncidentOpened"), "{shown}");
    let detail = json(&["incidents", "show", &incident], &technician);
    assert_eq!(detail["id"], incident.as_str());
    assert!(detail["timeline"].is_array());

    let said = ok(&["incidents", "ack", &incident], &technician);
    assert_eq!(
        said.trim(),
        format!("incident {incident} acknowledged (status acknowledged)")
    );
    ok(&["incidents", "assign", &incident, "alice"], &technician);
    ok(
        &[
            "incidents",
            "comment",
            &incident,
            "looking at the CPU graph",
        ],
        &technician,
    );
    let resolved = json(
        &["incidents", "resolve", &incident, "--note", "restarted"],
        &technician,
    );
    assert_eq!(resolved["status"], "resolved", "{resolved}");

    let detail = block_on(incident_until(app, &tenant, &incident, |body| {
        body["status"] == "resolved"
    }));
    assert_eq!(detail["assignee"], "alice");
    let assigned = |who: &str| {
        let page = json(
            &[
                "incidents",
                "list",
                "--tenant",
                &tenant_id,
                "--assignee",
                who,
            ],
            &technician,
        );
        page["items"].as_array().unwrap().clone()
    };
    let alices = assigned("alice");
    assert_eq!(alices.len(), 1, "{alices:?}");
    assert_eq!(alices[0]["id"], incident.as_str());
    assert!(assigned("bob").is_empty());
    let timeline: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["event_type"].as_str().unwrap())
        .collect();
    for event in [
        "IncidentAcknowledged",
        "IncidentAssigned",
        "IncidentCommented",
        "IncidentResolved",
    ] {
        assert!(
            timeline.contains(&event),
            "{event} missing from {timeline:?}"
        );
    }

    // Resolving a resolved incident is a state conflict: exit 5, one sentence.
    let again = cli(&["incidents", "resolve", &incident], Some(&technician));
    assert_eq!(again.status.code(), Some(5), "{}", stderr(&again));
    let message = stderr(&again);
    assert!(
        message.starts_with("error: ") && message.contains("HTTP 409"),
        "{message}"
    );
    assert!(
        message.contains("request "),
        "names the request id: {message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");

    let reopened = ok(
        &["incidents", "reopen", &incident, "--reason", "came back"],
        &technician,
    );
    assert!(reopened.contains("reopened"), "{reopened}");
    block_on(incident_until(app, &tenant, &incident, |body| {
        body["status"] != "resolved"
    }));
}

#[test]
fn alerts_are_listed_shown_and_acknowledged() {
    let app = &shared().app;
    let tenant = tenant("cli-alerts");
    block_on(alert_and_incident(app, &tenant));
    let technician = app.token(Role::Technician, &[tenant.id]);
    let tenant_id = tenant.id.to_string();

    // The alerts list is a read model of its own: it follows the log.
    block_on(app.get_until(
        &format!("/api/v1/alerts?tenant={tenant_id}"),
        &technician,
        |body| {
            body["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
        },
    ));
    let table = ok(&["alerts", "list", "--tenant", &tenant_id], &technician);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains("HighCPU") && table.contains("prometheus"),
        "{table}"
    );
    let page = json(&["alerts", "list", "--tenant", &tenant_id], &technician);
    let alert = page["items"][0]["id"].as_str().unwrap().to_owned();

    let shown = ok(&["alerts", "show", &alert], &technician);
    assert!(shown.contains("CPU > 95% for 5 minutes"), "{shown}");
    let said = ok(&["alerts", "ack", &alert, "--note", "mine"], &technician);
    assert!(
        said.starts_with(&format!("alert {alert} acknowledged")),
        "{said}"
    );
    block_on(
        app.get_until(&format!("/api/v1/alerts/{alert}"), &technician, |body| {
            body["acknowledgement_note"] == "mine"
        }),
    );
    let detail = json(&["alerts", "show", &alert], &technician);
    assert_eq!(detail["acknowledgement_note"], "mine", "{detail}");
    assert_eq!(detail["id"], alert.as_str());
}

#[test]
fn exit_codes_tell_scripts_what_went_wrong() {
    let app = &shared().app;
    let tenant = tenant("cli-exits");
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let unknown = uuid::Uuid::now_v7().to_string();

    let missing = cli(&["incidents", "show", &unknown], Some(&viewer));
    assert_eq!(missing.status.code(), Some(4), "{}", stderr(&missing));
    let said = stderr(&missing);
    assert!(
        said.starts_with("error: ") && said.contains("not_found, HTTP 404, request "),
        "{said}"
    );

    let forged = cli(&["incidents", "list"], Some("not-a-token"));
    assert_eq!(forged.status.code(), Some(3), "{}", stderr(&forged));
    let anonymous = cli(&["incidents", "list"], None);
    assert_eq!(anonymous.status.code(), Some(3), "{}", stderr(&anonymous));
    // A viewer may read but not act.
    let incident = block_on(alert_and_incident(app, &tenant));
    let forbidden = cli(&["incidents", "ack", &incident], Some(&viewer));
    assert_eq!(forbidden.status.code(), Some(3), "{}", stderr(&forbidden));

    let technician = app.token(Role::Technician, &[tenant.id]);
    let invalid = cli(&["incidents", "assign", &incident, "  "], Some(&technician));
    assert_eq!(invalid.status.code(), Some(5), "{}", stderr(&invalid));
    assert!(
        stderr(&invalid).contains("HTTP 422"),
        "{}",
        stderr(&invalid)
    );

    let usage = cli(&["incidents", "show", "42"], Some(&viewer));
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));

    // Nothing listens on a port just given back.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = cli_at(
        &format!("http://127.0.0.1:{port}"),
        &["incidents", "list"],
        Some(&viewer),
    );
    assert_eq!(down.status.code(), Some(6), "{}", stderr(&down));
    assert!(
        stderr(&down).contains("cannot connect"),
        "{}",
        stderr(&down)
    );
}

#[test]
fn runbooks_are_executed_and_approvals_approved_or_rejected() {
    let app = &shared().app;
    let tenant = tenant("cli-approvals");
    block_on(prepare_tenant(app, &tenant));
    let runbook = block_on(define_runbook(app, &tenant, "medium", false));
    let runbook = runbook["runbook_id"].as_str().unwrap().to_owned();
    let requester = app.token_for("alice", Role::TenantAdmin, &[tenant.id]);
    let approver = app.token_for("bob", Role::TenantAdmin, &[tenant.id]);
    let tenant_id = tenant.id.to_string();
    // The list is a read model: it follows the log.
    block_on(app.get_until(
        &format!("/api/v1/runbooks?tenant={tenant_id}"),
        &requester,
        |body| {
            body["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
        },
    ));

    let runbooks = ok(&["runbooks", "list", "--tenant", &tenant_id], &requester);
    assert!(
        runbooks.lines().next().unwrap().contains("RISK"),
        "{runbooks}"
    );
    assert!(
        runbooks.contains(&runbook) && runbooks.contains("medium"),
        "{runbooks}"
    );

    // Approved: the runbook runs and heals the incident.
    let incident = block_on(alert_and_incident(app, &tenant));
    let asked = ok(
        &["runbooks", "execute", &runbook, "--incident", &incident],
        &requester,
    );
    assert!(asked.contains("needs an approval first"), "{asked}");
    // The list is a read model: it follows the log.
    block_on(approval_until(app, &tenant, |body| {
        body["status"] == "pending"
    }));
    let pending = ok(
        &[
            "approvals",
            "list",
            "--status",
            "pending",
            "--tenant",
            &tenant_id,
        ],
        &approver,
    );
    let approval = pending
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert!(
        pending.contains("medium") && pending.contains("alice"),
        "{pending}"
    );

    let own = cli(&["approvals", "approve", &approval], Some(&requester));
    assert_eq!(
        own.status.code(),
        Some(3),
        "self-approval: {}",
        stderr(&own)
    );
    let granted = ok(
        &["approvals", "approve", &approval, "--reason", "go"],
        &approver,
    );
    assert_eq!(granted.trim(), format!("approval {approval} granted"));
    block_on(incident_until(app, &tenant, &incident, |body| {
        body["status"] == "resolved"
    }));
    let twice = cli(&["approvals", "reject", &approval], Some(&approver));
    assert_eq!(twice.status.code(), Some(5), "{}", stderr(&twice));
    assert!(
        stderr(&twice).contains("approval_already_decided"),
        "{}",
        stderr(&twice)
    );

    // Rejected: nothing runs, the incident stays open. (Another occurrence:
    // the same body again would be the same delivery, a duplicate.)
    let mut again = generic_alert("web01");
    again["occurred_at"] = "2026-11-22T04:00:00Z".into();
    let response = block_on(app.post_alert(&tenant, &again));
    assert_eq!(response.status(), 202);
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let open = block_on(app.get_until(
        &format!("/api/v1/incidents?tenant={tenant_id}&status=new"),
        &viewer,
        |body| {
            body["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
        },
    ));
    let second = open["items"][0]["id"].as_str().unwrap().to_owned();
    let request = json(
        &["runbooks", "execute", &runbook, "--incident", &second],
        &requester,
    );
    let approval = request["approval_id"].as_str().unwrap().to_owned();
    let rejected = ok(
        &["approvals", "reject", &approval, "--reason", "not now"],
        &approver,
    );
    assert_eq!(rejected.trim(), format!("approval {approval} rejected"));
    let listed = block_on(approval_until(app, &tenant, |body| {
        body["status"] == "rejected"
    }));
    assert_eq!(listed["reason"], "not now");
    assert_eq!(incident_status(&tenant, &second)["status"], "new");
}

/// A loopback TCP proxy whose connections can be cut, and which can refuse
/// new ones for a while (a restarting server, a flaky load balancer).
struct CuttingProxy {
    address: String,
    refusing: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl CuttingProxy {
    fn start(upstream: String) -> Self {
        let listener = block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let refusing = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (flag, list) = (refusing.clone(), connections.clone());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        shared().runtime.spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                list.lock().unwrap().push(task.abort_handle());
            }
        });
        Self {
            address,
            refusing,
            connections,
        }
    }

    /// Drops every open connection and refuses new ones until [`Self::heal`].
    fn cut(&self) {
        self.refusing.store(true, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn heal(&self) {
        self.refusing.store(false, Ordering::SeqCst);
    }
}

/// The tenant's events in log order, as `GET /api/v1/events` lists them.
fn logged_positions(tenant: &TestTenant, token: &str) -> Vec<i64> {
    let page = block_on(shared().app.get_until(
        &format!("/api/v1/events?tenant={}&after=0&limit=500", tenant.id),
        token,
        |_| true,
    ));
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["position"].as_i64().unwrap())
        .collect()
}

#[test]
fn events_tail_prints_events_as_they_arrive_and_resumes_after_a_disconnect() {
    let app = &shared().app;
    let tenant = tenant("cli-tail");
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let proxy = CuttingProxy::start(app.address.clone());
    let tenant_id = tenant.id.to_string();

    let mut child = command(
        &proxy.address,
        &[
            "events", "tail", "--after", "0", "--tenant", &tenant_id, "--output", "json",
        ],
        Some(&viewer),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let (lines_in, lines) = std::sync::mpsc::channel::<Value>();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = lines_in.send(serde_json::from_str(&line).expect("a JSON event per line"));
        }
    });
    let err = child.stderr.take().unwrap();
    let notes = Arc::new(Mutex::new(String::new()));
    let notes_in = notes.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            notes_in.lock().unwrap().push_str(&line);
            notes_in.lock().unwrap().push('\n');
        }
    });
    let mut seen: Vec<Value> = Vec::new();
    let mut wait_for = |what: &str, done: &dyn Fn(&[Value]) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(&seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(event) => seen.push(event),
                Err(_) => panic!("events tail never printed {what}; printed {seen:?}"),
            }
        }
    };
    let received = |asset: &'static str| {
        move |events: &[Value]| {
            events.iter().any(|event| {
                event["event_type"] == "AlertReceived"
                    && event["payload"]["AlertReceived"]["asset"] == asset
            })
        }
    };

    let response = block_on(app.post_alert(&tenant, &generic_alert("tail-one")));
    assert_eq!(response.status(), 202);
    wait_for("the first alert", &received("tail-one"));

    proxy.cut();
    let response = block_on(app.post_alert(&tenant, &generic_alert("tail-two")));
    assert_eq!(response.status(), 202);
    // While refused, the client keeps trying; then the way is open again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !notes.lock().unwrap().contains("reconnecting") {
        assert!(
            Instant::now() < deadline,
            "no reconnect attempt was reported"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    proxy.heal();
    wait_for(
        "the alert sent while it was disconnected",
        &received("tail-two"),
    );

    // Everything the log holds for the tenant, once, in order: no gap, no duplicate.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let logged = logged_positions(&tenant, &viewer);
        let printed: Vec<i64> = seen
            .iter()
            .map(|e| e["position"].as_i64().unwrap())
            .collect();
        if printed.len() >= logged.len() && printed.last() == logged.last() {
            assert_eq!(printed, logged, "printed positions differ from the log");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "printed {printed:?}, logged {logged:?}"
        );
        if let Ok(event) = lines.recv_timeout(Duration::from_millis(200)) {
            seen.push(event);
        }
    }
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for event in &seen {
        *counts
            .entry(event["position"].as_i64().unwrap())
            .or_default() += 1;
    }
    assert!(
        counts.values().all(|count| *count == 1),
        "a duplicate: {counts:?}"
    );
    assert!(
        notes.lock().unwrap().contains("resuming after position"),
        "{}",
        notes.lock().unwrap()
    );

    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn events_tail_stops_after_max_events_and_prints_a_table() {
    let app = &shared().app;
    let tenant = tenant("cli-tail-table");
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let tenant_id = tenant.id.to_string();
    let response = block_on(app.post_alert(&tenant, &generic_alert("tail-table")));
    assert_eq!(response.status(), 202);
    let text = ok(
        &[
            "events",
            "tail",
            "--after",
            "0",
            "--tenant",
            &tenant_id,
            "--max-events",
            "2",
        ],
        &viewer,
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two events: {text}");
    assert!(
        lines[0].contains("POSITION") && lines[0].contains("EVENT"),
        "{text}"
    );
    assert!(lines[1].contains("TenantRegistered"), "{text}");
}
