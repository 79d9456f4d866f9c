// What the dashboard's browser scripts share: reading their environment and
// starting Debian's headless Chromium.
import { chromium } from "playwright-core";

/// A variable of the environment, or `fallback`; throws when neither is set.
export const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

/// How long one step (a launch, a wait for an element) may take.
export const TIMEOUT = 20_000;

/// Headless Chromium from CHROMIUM (default /usr/bin/chromium); exits with
/// status 2 and the reason if it cannot start.
export async function launchChromium() {
  const executablePath = env("CHROMIUM", "/usr/bin/chromium");
  return chromium.launch({
    executablePath,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
    ],
    timeout: TIMEOUT,
  }).catch((error) => {
    console.error(`cannot start Chromium at ${executablePath}: ${error.message}`);
    process.exit(2);
  });
}
