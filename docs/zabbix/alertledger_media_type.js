// alertledger webhook media type for Zabbix 6.0 and later.
//
// Zabbix runs this script (JavaScript, Duktape: ES5 only) for every
// notification of an action that uses the media type, with the media type's
// parameters as the JSON object in `value`. It posts one JSON alert to
// alertledger's `zabbix` webhook source. Installation and the parameter list:
// docs/zabbix-media-type.md.

var AlertLedger = {
    // A parameter's value, or undefined when it is empty or Zabbix left the
    // macro unresolved ("{EVENT.RECOVERY.ID}", "*UNKNOWN*").
    param: function (params, name) {
        var raw = params[name];
        if (typeof raw !== 'string') {
            return undefined;
        }
        raw = raw.trim();
        if (raw === '' || raw === '*UNKNOWN*' || /^\{[A-Z0-9_.$#]+\}$/.test(raw)) {
            return undefined;
        }
        return raw;
    },

    required: function (params, name) {
        var raw = AlertLedger.param(params, name);
        if (raw === undefined) {
            throw 'parameter "' + name + '" is empty; check the media type\'s parameters';
        }
        return raw;
    },

    // {EVENT.DATE} {EVENT.TIME} are in the Zabbix server's time zone, as is
    // this script's Date: together they give the Unix time alertledger wants.
    timestamp: function (date, time) {
        if (date === undefined || time === undefined) {
            return undefined;
        }
        var d = date.split('.');
        var t = time.split(':');
        if (d.length !== 3 || t.length !== 3) {
            return undefined;
        }
        var at = new Date(+d[0], +d[1] - 1, +d[2], +t[0], +t[1], +t[2]);
        var seconds = Math.floor(at.getTime() / 1000);
        return isNaN(seconds) ? undefined : seconds;
    },

    // {EVENT.TAGSJSON}: [{"tag": "...", "value": "..."}, ...]
    tags: function (raw) {
        if (raw === undefined) {
            return [];
        }
        try {
            var tags = JSON.parse(raw);
            return Array.isArray(tags) ? tags : [];
        } catch (error) {
            Zabbix.log(4, '[ alertledger webhook ] ignoring tags that are not JSON: ' + raw);
            return [];
        }
    },

    body: function (params) {
        var eventId = AlertLedger.required(params, 'event_id');
        var triggerId = AlertLedger.param(params, 'trigger_id');
        var zabbixUrl = AlertLedger.param(params, 'zabbix_url');
        var body = {
            event_id: eventId,
            event_name: AlertLedger.required(params, 'event_name'),
            severity: AlertLedger.required(params, 'severity'),
            status: AlertLedger.param(params, 'status'),
            event_value: AlertLedger.required(params, 'event_value'),
            host: AlertLedger.required(params, 'host'),
            host_ip: AlertLedger.param(params, 'host_ip'),
            trigger_id: triggerId,
            event_date: AlertLedger.param(params, 'event_date'),
            event_time: AlertLedger.param(params, 'event_time'),
            event_timestamp: AlertLedger.timestamp(
                AlertLedger.param(params, 'event_date'),
                AlertLedger.param(params, 'event_time')
            ),
            tags: AlertLedger.tags(AlertLedger.param(params, 'event_tags_json')),
            opdata: AlertLedger.param(params, 'opdata'),
            message: AlertLedger.param(params, 'message')
        };
        if (zabbixUrl !== undefined && triggerId !== undefined) {
            body.event_url = zabbixUrl.replace(/\/+$/, '') +
                '/tr_events.php?triggerid=' + encodeURIComponent(triggerId) +
                '&eventid=' + encodeURIComponent(eventId);
        }
        return body;
    },

    send: function (params, body) {
        var url = AlertLedger.required(params, 'url');
        var request = new HttpRequest();
        var proxy = AlertLedger.param(params, 'http_proxy');
        if (proxy !== undefined) {
            request.setProxy(proxy);
        }
        request.addHeader('Content-Type: application/json');
        request.addHeader('X-API-Key: ' + AlertLedger.required(params, 'api_key'));
        var response = request.post(url, JSON.stringify(body));
        var status = request.getStatus();
        if (status < 200 || status >= 300) {
            throw 'alertledger answered HTTP ' + status + ': ' + response;
        }
        return response;
    }
};

try {
    var params = JSON.parse(value);
    // Only trigger events (source 0) are alerts; problem updates
    // (acknowledgements, comments) are not sent: alertledger tracks those itself.
    var source = AlertLedger.param(params, 'event_source');
    if (source !== undefined && source !== '0') {
        return 'skipped: event source ' + source + ' is not a trigger event';
    }
    if (AlertLedger.param(params, 'event_update_status') === '1') {
        return 'skipped: problem update';
    }
    var body = AlertLedger.body(params);
    Zabbix.log(4, '[ alertledger webhook ] sending event ' + body.event_id + ' value ' + body.event_value);
    AlertLedger.send(params, body);
    return 'OK';
} catch (error) {
    Zabbix.log(3, '[ alertledger webhook ] notification failed: ' + error);
    throw 'alertledger notification failed: ' + error;
}
