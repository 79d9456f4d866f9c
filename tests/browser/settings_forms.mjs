// A tenant admin sets up paging in the dashboard's settings, in headless
// Chromium at 1280×800: an on-call schedule with two participants, an
// escalation policy whose second level pages whoever is on call, a
// notification rule that starts that policy (then changed through its Edit),
// and a recurring maintenance window, first refused for a bad cron pattern
// (the 422 shown beside the form, its field marked) and then created; each
// is listed. The heartbeats section shows the beat sent before, and the
// command to register one with this server's URL and no key. "Assigned to
// me" asks the API (`assignee=me`). A failed single sign-on's fragment shows
// its message on the login form. Screenshots go to SCREENSHOT_DIR.
//
// Environment: BASE_URL, TOKEN (a tenant admin's JWT), TENANT_ID, API_KEY
// (the tenant's, which must not appear on the page), MY_ASSET (the asset of
// the incident assigned to the token's user), OTHER_ASSET, HEARTBEAT (a
// heartbeat's name), SCREENSHOT_DIR, CHROMIUM. Prints one JSON line on
// success; exits non-zero with the reason otherwise.
import { env, launchChromium, TIMEOUT } from "./common.mjs";

const baseUrl = env("BASE_URL");
const token = env("TOKEN");
const tenantId = env("TENANT_ID");
const apiKey = env("API_KEY");
const myAsset = env("MY_ASSET");
const otherAsset = env("OTHER_ASSET");
const heartbeat = env("HEARTBEAT");
const shots = env("SCREENSHOT_DIR");
const result = { screenshots: [] };

const browser = await launchChromium();

const problems = [];
let page = null;

async function newPage(who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (error) => problems.push(`${who}: page error: ${error.message}`));
  page.on("console", (message) => {
    // The refused window (422) is logged by Chromium as a failed load: expected.
    const url = message.location().url || "";
    const expected422 = url.endsWith("/api/v1/maintenance-windows") && message.text().includes("422");
    if (message.type() === "error" && !expected422) {
      problems.push(`${who}: console error: ${message.text()} (${url})`);
    }
  });
  return page;
}

async function shot(page, name, fullPage) {
  const path = `${shots}/${name}.png`;
  await page.screenshot({ path, fullPage });
  result.screenshots.push(path);
}

try {
  // A channel to page through (the channel form has its own test).
  const channel = await fetch(`${baseUrl}/api/v1/tenants/${tenantId}/notification-channels`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ type: "webhook", name: "Ops hook", config: { url: "https://hooks.example.com/ops" } }),
  });
  if (channel.status !== 201) throw new Error(`the channel answered ${channel.status}`);

  page = await newPage("admin");
  await page.goto(baseUrl + "/", { waitUntil: "domcontentloaded" });
  await page.getByText("Use an access token instead").click();
  await page.getByLabel("Access token (JWT)").fill(token);
  await page.getByRole("button", { name: "Sign in with the token" }).click();
  await page.locator("#connection", { hasText: "Live" }).waitFor();

  // ---- "assigned to me" is the API's filter --------------------------------------
  await page.locator("#incident-rows tr", { hasText: otherAsset }).waitFor();
  const asked = page.waitForRequest((request) => request.url().includes("/api/v1/incidents?") && request.url().includes("assignee=me"));
  await page.getByLabel("Assigned to me").check();
  result.mine_request = (await asked).url().replace(baseUrl, "");
  await page.locator("#incident-rows tr", { hasText: otherAsset }).waitFor({ state: "detached" });
  result.mine_rows = await page.locator("#incident-rows tr").allInnerTexts();

  await page.getByRole("link", { name: "Settings" }).click();
  await page.locator("#set-rules").waitFor();
  // The channel is a choice in every form that pages.
  await page.locator("#participant-rows select[name=channel_id] option", { hasText: "Ops hook" }).first().waitFor({ state: "attached" });

  // ---- an on-call schedule: weekly, two participants ---------------------------------
  const schedule = page.locator("#schedule-form");
  await schedule.getByLabel("Schedule name").fill("Primary");
  await schedule.getByLabel("Time zone (IANA)").fill("Europe/Berlin");
  await schedule.getByLabel("Handoff", { exact: true }).selectOption("weekly");
  await schedule.getByLabel("Handoff time (local)").fill("09:00");
  const participants = page.locator("#participant-rows > li");
  await participants.nth(0).getByLabel("Name").fill("Alice");
  await schedule.getByRole("button", { name: "Add a participant" }).click();
  await participants.nth(1).getByLabel("Name").fill("Bob");
  await participants.nth(1).getByLabel("Reached through").selectOption({ label: "Ops hook (webhook)" });
  // Bob first: the order is the rotation's.
  await page.getByRole("button", { name: "Move participant 2 up" }).click();
  await schedule.getByRole("button", { name: "Create schedule" }).click();
  await page.locator("#set-schedules-message", { hasText: "Schedule created." }).waitFor();
  const scheduleItem = page.locator("#schedule-list li", { hasText: "Primary" });
  await scheduleItem.waitFor();
  result.schedule_item = await scheduleItem.innerText();

  // ---- an escalation policy: channels, then whoever is on call ------------------------
  const policy = page.locator("#escalation-form");
  await policy.getByLabel("Policy name").fill("Database on-call");
  const levels = page.locator("#level-rows > li");
  await levels.nth(0).getByLabel("Delay (minutes)").fill("5");
  await levels.nth(0).getByLabel("Ops hook (webhook)").check();
  await policy.getByRole("button", { name: "Add a level" }).click();
  await levels.nth(1).getByLabel("Delay (minutes)").fill("15");
  await levels.nth(1).getByLabel("Notify").selectOption("schedule");
  await levels.nth(1).getByLabel("On-call schedule").selectOption({ label: "Primary" });
  await policy.getByLabel("Repeat (times after the last level)").fill("1");
  await policy.getByRole("button", { name: "Create policy" }).click();
  await page.locator("#set-escalations-message", { hasText: "Policy created." }).waitFor();
  const policyItem = page.locator("#policy-list li", { hasText: "Database on-call" });
  await policyItem.waitFor();
  result.policy_item = await policyItem.innerText();

  // ---- a notification rule that starts the policy, then changed --------------------------
  const rule = page.locator("#rule-form");
  await rule.getByLabel("Rule name").fill("Critical pages");
  await rule.getByLabel("Minimum severity").selectOption("high");
  await rule.getByLabel("Escalated", { exact: true }).check();
  await rule.getByLabel("Matchers (one per line)").fill('asset=~"srv-db-.*"');
  await rule.getByLabel("Then").selectOption("policy");
  await rule.getByLabel("Escalation policy").selectOption({ label: "Database on-call" });
  await rule.getByRole("button", { name: "Create rule" }).click();
  await page.locator("#set-rules-message", { hasText: "Rule created." }).waitFor();
  await page.locator("#rule-list li", { hasText: "Critical pages" }).waitFor();
  await page.getByRole("button", { name: "Edit rule Critical pages" }).click();
  await rule.getByLabel("Rule name").fill("Critical database pages");
  await rule.getByRole("button", { name: "Save rule" }).click();
  await page.locator("#set-rules-message", { hasText: "Rule changed." }).waitFor();
  const ruleItem = page.locator("#rule-list li", { hasText: "Critical database pages" });
  await ruleItem.waitFor();
  result.rule_item = await ruleItem.innerText();
  result.rule_items = await page.locator("#rule-list li").count();

  // ---- a recurring window: a bad cron pattern is refused, with the field named ----------
  const recurring = page.locator("#recurring-form");
  await recurring.getByLabel("Name").fill("Saturday patching");
  await recurring.getByLabel("Recurrence").selectOption("cron");
  await recurring.getByLabel("Pattern").fill("61 25 * * *");
  await recurring.getByLabel("Duration (minutes)").fill("180");
  await recurring.getByLabel("Time zone (IANA)").fill("Europe/Berlin");
  await recurring.getByLabel("Matchers (one per line)").fill('asset=~"srv-db-.*"');
  await recurring.getByRole("button", { name: "Create recurring window" }).click();
  const refusal = page.locator("#set-windows-message[data-kind=error]");
  await refusal.waitFor();
  result.cron_error = await refusal.innerText();
  result.cron_invalid = await recurring.getByLabel("Pattern").getAttribute("aria-invalid");
  result.cron_focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  await page.locator("#set-windows").scrollIntoViewIfNeeded();
  await shot(page, "dashboard-settings-forms-422", false);
  await recurring.getByLabel("Pattern").fill("0 2 * * SAT");
  await recurring.getByRole("button", { name: "Create recurring window" }).click();
  await page.locator("#set-windows-message", { hasText: "Window created." }).waitFor();
  const windowItem = page.locator("#window-list li.recurring", { hasText: "Saturday patching" });
  await windowItem.waitFor();
  result.window_item = await windowItem.innerText();
  result.cron_invalid_after = await recurring.getByLabel("Pattern").getAttribute("aria-invalid");

  // ---- heartbeats: the state of the one that beat, and how to register one ----------------
  const beat = page.locator(`#heartbeat-rows tr[data-heartbeat="${heartbeat}"]`);
  await beat.waitFor();
  result.heartbeat_row = await beat.innerText();
  result.heartbeat_command = await page.locator("#heartbeat-command").innerText();
  result.page_shows_api_key = (await page.content()).includes(apiKey);

  // The picture: the paging forms at the top of the window, then the whole page.
  await page.locator("#set-rules").evaluate((node) => node.scrollIntoView());
  await shot(page, "dashboard-settings-forms-viewport", false);
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "dashboard-settings-forms", true);

  // ---- a failed single sign-on lands on the login form with its message -----------------
  const sso = await newPage("sso");
  await sso.goto(`${baseUrl}/#sso_error=sso_denied`, { waitUntil: "domcontentloaded" });
  await sso.locator("#sign-in-error", { hasText: "Single sign-on failed" }).waitFor();
  result.sso_error = await sso.locator("#sign-in-error").innerText();
  result.sso_error_hash = await sso.evaluate(() => location.hash);
  result.sso_login_form = await sso.getByLabel("Email").isVisible();

  if (problems.length) throw new Error(problems.join("; "));
  console.log(JSON.stringify(result));
} catch (error) {
  // What the page said, and a picture of it, to tell why.
  const said = page ? await page.locator("#board-error, .message[data-kind=error]").allInnerTexts().catch(() => []) : [];
  if (page) await page.screenshot({ path: `${shots}/dashboard-settings-forms-failed.png`, fullPage: true }).catch(() => {});
  console.error(`settings forms check failed: ${error.message}\n${problems.join("\n")}\npage: ${said.join(" | ")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
