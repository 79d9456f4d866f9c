// The dashboard as people work in it, in headless Chromium at 1280×800:
// a technician signs in with a password, acknowledges an incident, asks to
// run its medium-risk runbook and resolves it while a tenant admin's page
// sees each step live; the admin approves the run after reading its pinned
// commands, creates a
// maintenance window and a notification channel, finds an alert stored with
// normalization warnings, reads the 30-day KPI charts and the profile; a
// viewer sees no action buttons and the API refuses the viewer's action;
// the technician's session refreshes before expiry and dies on sign-out;
// the SSO link and the SSO callback's fragment work.
// Screenshots go to SCREENSHOT_DIR.
//
// Environment: BASE_URL, PASSWORD, TECH_EMAIL, ADMIN_EMAIL, VIEWER_TOKEN,
// API_KEY, INCIDENT_ID, ASSET (the incident's asset), ODD_ASSET (an alert
// with an odd severity), SCREENSHOT_DIR, CHROMIUM. Prints one JSON line on
// success; exits non-zero with the reason otherwise.
import { env, launchChromium, TIMEOUT } from "./common.mjs";

const baseUrl = env("BASE_URL");
const password = env("PASSWORD");
const techEmail = env("TECH_EMAIL");
const adminEmail = env("ADMIN_EMAIL");
const viewerToken = env("VIEWER_TOKEN");
const mspToken = env("MSP_TOKEN");
const incidentId = env("INCIDENT_ID");
const asset = env("ASSET");
const oddAsset = env("ODD_ASSET");
const shots = env("SCREENSHOT_DIR");
const result = { screenshots: [] };

const browser = await launchChromium();

const problems = [];

/// A page of its own (own session storage), failing the run on any script
/// error or console error.
async function newPage(who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (error) => problems.push(`${who}: page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${who}: console error: ${message.text()} (${message.location().url})`);
  });
  return page;
}

async function shot(page, name) {
  const path = `${shots}/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  result.screenshots.push(path);
}

async function signInWithPassword(page, email) {
  await page.goto(baseUrl + "/", { waitUntil: "domcontentloaded" });
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.locator("#connection", { hasText: "Live" }).waitFor();
  await page.locator("#kpi-cards .card").first().waitFor();
}

const incidentRow = (page) => page.locator(`#incident-rows tr[data-incident-id="${incidentId}"]`);

try {
  // ---- a technician signs in with a password; an admin watches ----------------
  const tech = await newPage("technician");
  await signInWithPassword(tech, techEmail);
  result.tech_who = await tech.locator("#who").innerText();
  const admin = await newPage("admin");
  await signInWithPassword(admin, adminEmail);
  let adminNavigations = 0;
  admin.on("framenavigated", (frame) => {
    // Hash changes (the nav) are not loads; a reload would be.
    if (frame === admin.mainFrame() && !frame.url().includes("#/")) adminNavigations += 1;
  });
  await incidentRow(admin).getByRole("button").click();
  await admin.locator("#incident-facts").getByText("new", { exact: true }).waitFor();

  // ---- acknowledge, then resolve, from the technician's page ----------------
  await incidentRow(tech).getByRole("button").click();
  await tech.locator("#incident-actions").getByRole("button", { name: "Acknowledge" }).click();
  await tech.locator("#incident-message", { hasText: "Acknowledged." }).waitFor();
  // The admin's page hears it from the stream.
  await incidentRow(admin).locator(".status", { hasText: "acknowledged" }).waitFor();
  await admin.locator("#timeline-entries li", { hasText: "IncidentAcknowledged" }).waitFor();

  // ---- the technician runs the matching (medium-risk) runbook: an approval request --
  await tech.locator("[data-action=runbook] select:enabled").waitFor();
  await tech.getByRole("button", { name: "Run runbook" }).click();
  await tech.locator("#incident-message", { hasText: "needs an approval" }).waitFor();
  result.runbook_message = await tech.locator("#incident-message").innerText();
  await shot(tech, "dashboard-incident-acknowledged");

  // ---- the admin, told live, approves it after reading its pinned commands ---------
  await admin.locator("#approvals-badge", { hasText: "1" }).waitFor();
  await admin.getByRole("link", { name: /^Approvals/ }).click();
  const approval = admin.locator(".approval").first();
  await approval.waitFor();
  result.pinned_commands = await approval.locator("pre.commands").first().innerText();
  await shot(admin, "dashboard-approvals");
  await admin.getByLabel("Reason (optional)").fill("Looked at the commands");
  await approval.getByRole("button", { name: "Approve" }).click();
  await admin.locator("#approvals-message", { hasText: "Approved." }).waitFor();
  await admin.locator("#approvals-empty", { hasText: "Nothing waits for approval." }).waitFor();
  await admin.locator("#approvals-badge").waitFor({ state: "hidden" });

  // ---- the technician resolves; the admin's page sees it live ------------------------
  await admin.getByRole("link", { name: "Incidents" }).click();
  await incidentRow(admin).getByRole("button").click();
  await admin.locator("#incident-facts dd", { hasText: /^acknowledged$/ }).waitFor();
  await tech.getByLabel("Resolution note").fill("Restarted the service by hand");
  await tech.getByRole("button", { name: "Resolve" }).click();
  await tech.locator("#incident-message", { hasText: "Resolved." }).waitFor();
  await admin.locator("#timeline-entries li", { hasText: "IncidentResolved" }).waitFor();
  await admin.locator("#incident-facts dd", { hasText: /^resolved$/ }).waitFor();
  // The default filter lists open incidents only: the row leaves the list.
  await incidentRow(admin).waitFor({ state: "detached" });
  result.resolved_seen_live = true;

  // ---- settings: a maintenance window and a notification channel ----------------
  await admin.getByRole("link", { name: "Settings" }).click();
  await admin.locator("#set-windows").waitFor();
  const windowForm = admin.locator("#window-form");
  await windowForm.getByLabel("Name", { exact: true }).fill("Patch night");
  const local = (date) => new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  await windowForm.getByLabel("Starts").fill(local(new Date(Date.now() + 3600_000)));
  await windowForm.getByLabel("Ends").fill(local(new Date(Date.now() + 3 * 3600_000)));
  await windowForm.getByLabel("Matchers (one per line)").fill('asset="srv-db-01"');
  await windowForm.getByRole("button", { name: "Create window" }).click();
  await admin.locator("#set-windows-message", { hasText: "Window created." }).waitFor();
  await admin.locator("#window-list li", { hasText: "Patch night" }).waitFor();
  const channelForm = admin.locator("#channel-form");
  await channelForm.getByLabel("Name", { exact: true }).fill("Ops hook");
  await channelForm.getByLabel("URL").fill("https://hooks.example.com/alertledger");
  await channelForm.getByRole("button", { name: "Add channel" }).click();
  await admin.locator("#set-channels-message", { hasText: "Channel added." }).waitFor();
  await admin.locator("#channel-list li", { hasText: "Ops hook" }).waitFor();
  result.channel_secret_shown = await admin.locator("#channel-once .secret").innerText();
  // The section links scroll; the picture starts at the top.
  await admin.evaluate(() => window.scrollTo(0, 0));
  await shot(admin, "dashboard-settings");

  // ---- alerts with normalization warnings ------------------------------------------
  await admin.getByRole("link", { name: "Alerts" }).click();
  await admin.locator("#alert-rows tr").first().waitFor();
  await admin.getByLabel("Only with normalization warnings").check();
  await admin.locator("#alert-rows tr", { hasText: asset }).waitFor({ state: "detached" });
  const oddRow = admin.locator("#alert-rows tr", { hasText: oddAsset });
  await oddRow.waitFor();
  result.warning_rows = await admin.locator("#alert-rows tr").count();
  await oddRow.getByRole("button").click();
  result.warning_text = await admin.locator("#alert-detail .warnings").innerText();
  await shot(admin, "dashboard-alerts");

  // ---- KPI trends over 30 days --------------------------------------------------------
  await admin.getByRole("link", { name: "Trends" }).click();
  await admin.locator("svg[data-chart=alerts] rect.bar").first().waitFor();
  result.charts = await admin.locator("svg.chart").count();
  result.alert_bars_with_height = await admin.locator("svg[data-chart=alerts] rect.bar")
    .evaluateAll((bars) => bars.filter((bar) => Number(bar.getAttribute("height")) > 0).length);
  await admin.locator("svg[data-chart=mttr_seconds] circle.point").first().waitFor();
  result.mttr_points = await admin.locator("svg[data-chart=mttr_seconds] circle.point").count();
  await shot(admin, "dashboard-trends");

  // ---- profile ----------------------------------------------------------------------------
  await admin.getByRole("link", { name: "Profile" }).click();
  await admin.locator("#session-rows tr", { hasText: "(this tab)" }).waitFor();
  result.profile = await admin.locator("#profile-facts").innerText();
  await shot(admin, "dashboard-profile");
  if (adminNavigations > 0) throw new Error("the admin's page reloaded; updates must arrive live");

  // ---- a viewer sees no action buttons; the API refuses the viewer ------------------------
  const viewer = await newPage("viewer");
  await viewer.goto(baseUrl + "/", { waitUntil: "domcontentloaded" });
  await viewer.getByText("Use an access token instead").click();
  await viewer.getByLabel("Access token (JWT)").fill(viewerToken);
  await viewer.getByRole("button", { name: "Sign in with the token" }).click();
  await viewer.locator("#connection", { hasText: "Live" }).waitFor();
  await viewer.getByLabel("Status").selectOption("");
  await incidentRow(viewer).getByRole("button").click();
  await viewer.locator("#incident-actions", { hasText: "may read incidents but not act" }).waitFor();
  result.viewer_action_buttons = await viewer.locator("#incident-actions button").count();
  result.viewer_settings_link = await viewer.getByRole("link", { name: "Settings" }).count();
  await shot(viewer, "dashboard-viewer");
  const refused = await fetch(`${baseUrl}/api/v1/incidents/${incidentId}/reopen`, {
    method: "POST",
    headers: { Authorization: `Bearer ${viewerToken}`, "Content-Type": "application/json" },
    body: "{}",
  });
  result.viewer_api_status = refused.status;

  // ---- the technician's session refreshes before expiry, then signs out ----------
  // Pretend the access token runs out in 61 s: the page refreshes it a
  // minute before, i.e. at once after the reload, and carries on live.
  const oldRefresh = await tech.evaluate(() => sessionStorage.getItem("alertledger.refresh"));
  await tech.evaluate(() => sessionStorage.setItem("alertledger.expires_at", String(Date.now() + 61_000)));
  await tech.reload({ waitUntil: "domcontentloaded" });
  await tech.waitForFunction((old) => {
    const now = sessionStorage.getItem("alertledger.refresh");
    return now && now !== old;
  }, oldRefresh);
  await tech.locator("#connection", { hasText: "Live" }).waitFor();
  await tech.getByRole("link", { name: "Profile" }).click();
  await tech.locator("#session-rows tr", { hasText: "(this tab)" }).waitFor();
  result.refreshed = true;
  const newRefresh = await tech.evaluate(() => sessionStorage.getItem("alertledger.refresh"));
  await tech.locator("#sign-out").click();
  await tech.getByLabel("Email").waitFor();
  result.storage_after_sign_out = await tech.evaluate(() => sessionStorage.length);
  const reuse = await fetch(`${baseUrl}/api/v1/auth/refresh`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: newRefresh }),
  });
  result.refresh_after_sign_out = reuse.status;

  // ---- an MSP admin switches between all tenants and one ------------------------------
  const msp = await newPage("msp");
  await msp.goto(baseUrl + "/", { waitUntil: "domcontentloaded" });
  await msp.getByText("Use an access token instead").click();
  await msp.getByLabel("Access token (JWT)").fill(mspToken);
  await msp.getByRole("button", { name: "Sign in with the token" }).click();
  await msp.locator("#connection", { hasText: "Live" }).waitFor();
  const elsewhereRow = msp.locator("#incident-rows tr", { hasText: "db-elsewhere" });
  await elsewhereRow.waitFor();
  result.msp_rows_all = await msp.locator("#incident-rows tr").count();
  await msp.getByLabel("Tenant").selectOption({ label: "workbench" });
  await elsewhereRow.waitFor({ state: "detached" });
  result.msp_rows_one = await msp.locator("#incident-rows tr").count();
  await shot(msp, "dashboard-msp-one-tenant");

  // ---- SSO: the link shows when the server says so; the callback's fragment signs in --
  // GET /api/v1/auth/oidc is another engineer's route: stand in for it (and
  // for its entry in the OpenAPI document) with what it is specified to answer.
  const sso = await newPage("sso");
  await sso.route("**/api/v1/openapi.json", async (route) => {
    const response = await route.fetch();
    const doc = await response.json();
    doc.paths["/api/v1/auth/oidc"] = { get: { responses: { 200: { description: "OIDC" } } } };
    await route.fulfill({ response, json: doc });
  });
  await sso.route("**/api/v1/auth/oidc", (route) =>
    route.fulfill({ json: { enabled: true, login_url: "/api/v1/auth/oidc/login" } }));
  await sso.goto(baseUrl + "/", { waitUntil: "domcontentloaded" });
  await sso.locator("#sso-link").waitFor();
  result.sso_link = await sso.locator("#sso-link").getAttribute("href");
  const login = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: techEmail, password }),
  });
  const pair = await login.json();
  await sso.goto("about:blank");
  await sso.goto(`${baseUrl}/#access_token=${pair.access_token}&refresh_token=${pair.refresh_token}&expires_in=${pair.expires_in}`,
    { waitUntil: "domcontentloaded" });
  await sso.locator("#connection", { hasText: "Live" }).waitFor();
  result.sso_who = await sso.locator("#who").innerText();
  result.sso_hash = await sso.evaluate(() => location.hash);
  result.sso_kept_refresh = (await sso.evaluate(() => sessionStorage.getItem("alertledger.refresh"))) === pair.refresh_token;

  if (problems.length) throw new Error(problems.join("; "));
  console.log(JSON.stringify(result));
} catch (error) {
  console.error(`dashboard workflow failed: ${error.message}\n${problems.join("\n")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
