"""Drives PagerDuty's official Python client (`pagerduty` from PyPI) against
alertledger's PagerDuty drop-in, for tests/pagerduty_drop_in.rs.

Usage: send.py BASE_URL ROUTING_KEY CA_FILE

BASE_URL is what a user sets as the client's base URL
(`https://host:port/api/v1/webhooks/pagerduty`); the client adds `/v2/enqueue`
and `/v2/change/enqueue` itself and sends ROUTING_KEY (the tenant API key) in
the body. CA_FILE is the PEM certificate of the authority that signed the
server's certificate. Prints one JSON object with what the client returned
and what the refused calls answered; exits non-zero if a call that should
succeed raised.
"""

import json
import ssl
import sys

import pagerduty


def client(base_url, routing_key, ca_file):
    tls = ssl.create_default_context(cafile=ca_file)
    return pagerduty.EventsApiV2Client(routing_key, base_url=base_url, verify=tls)


def refusal(call):
    """The status and JSON body of a call the client reports as refused."""
    try:
        call()
    except pagerduty.HttpError as error:
        return {"status": error.response.status_code, "body": error.response.json()}
    raise SystemExit("the call was expected to be refused, but it succeeded")


def main():
    base_url, routing_key, ca_file = sys.argv[1:4]
    events = client(base_url, routing_key, ca_file)

    # A trigger without a dedup key: the answer's key is what the client
    # acknowledges with later.
    derived = events.trigger(
        "Disk almost full on db01", "db01", severity="warning"
    )
    # PagerDuty's own sample: offset without a colon, fractional seconds.
    keyed = events.trigger(
        "Replication lag on srv01 is 340 seconds",
        "srv01",
        dedup_key="srv01/mysql/replication-lag",
        severity="error",
        payload={
            "timestamp": "2015-07-17T08:42:58.315+0000",
            "component": "mysql",
            "group": "prod-datapipe",
            "class": "replication lag",
        },
        custom_details={"replica": "srv01-replica-2"},
    )
    acknowledged_derived = events.acknowledge(derived)
    acknowledged_keyed = events.acknowledge(keyed)
    resolved_keyed = events.resolve(keyed)
    events.submit(
        "Build 42 deployed to production",
        source="ci.example.com",
        custom_details={"build_number": "42", "build_state": "passed"},
        links=[{"href": "https://ci.example.com/builds/42", "text": "Build 42"}],
        timestamp="2026-12-06T05:30:00.000+0000",
    )

    # A trigger without a payload is an invalid event; an unknown routing key
    # is refused.
    invalid = refusal(lambda: events.send_event("trigger"))
    stranger = client(base_url, "alk_" + "0" * 43, ca_file)
    unauthorized = refusal(lambda: stranger.trigger("x", "y"))

    print(
        json.dumps(
            {
                "derived": derived,
                "keyed": keyed,
                "acknowledged_derived": acknowledged_derived,
                "acknowledged_keyed": acknowledged_keyed,
                "resolved_keyed": resolved_keyed,
                "invalid": invalid,
                "unauthorized": unauthorized,
                "client_version": pagerduty.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
