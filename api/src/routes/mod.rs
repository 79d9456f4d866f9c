//! HTTP routes, one module per area of API.md.

pub mod alert_views;
pub mod alerts;
pub(crate) mod analyst_query;
pub mod approvals;
pub mod audit;
pub mod audit_seal;
pub mod auth;
pub mod correlation;
pub mod dashboard;
pub mod deliveries;
pub mod docs;
pub mod escalation_access;
pub mod escalation_policies;
pub mod events;
pub mod executions;
pub mod health;
pub mod heartbeat_admin;
pub mod heartbeats;
pub mod incident_views;
pub mod incidents;
pub mod kpis;
mod list_params;
pub mod maintenance;
pub mod me;
pub mod metrics;
pub mod notification_channels;
pub mod notification_rules;
pub mod notification_settings;
pub mod notifications;
pub mod oidc;
pub mod oncall;
mod operate;
pub mod pagerduty_events;
pub mod patch_compliance;
pub mod runbooks;
pub mod severity_map;
pub mod sns;
pub mod stream;
pub mod tenants;
pub mod users;
pub mod webhooks;
pub mod ws;

use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::state::AppState;

/// Every route of the service with its OpenAPI path: the one list the router
/// (`crate::router`) and the document (`crate::openapi::document`) are both
/// made from. A route is added here with `routes!(handler, ...)` (handlers of
/// one path together), the handler carrying its `#[utoipa::path]`
/// annotation; see docs/openapi.md "How to add a route".
pub fn all() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        // Operations, live feed, dashboard, documentation.
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(ws::connect))
        .routes(routes!(dashboard::page))
        .routes(routes!(dashboard::asset))
        .routes(routes!(crate::openapi::serve))
        .routes(routes!(docs::page))
        .routes(routes!(docs::asset))
        .routes(routes!(stream::stream))
        // Tenants and configuration.
        .routes(routes!(tenants::create, tenants::list))
        .routes(routes!(tenants::show))
        .routes(routes!(tenants::issue_api_key))
        .routes(routes!(tenants::revoke_api_key))
        .routes(routes!(tenants::add_webhook_secret))
        .routes(routes!(tenants::revoke_webhook_secret))
        .routes(routes!(tenants::set_signing))
        .routes(routes!(tenants::set_correlation_policy))
        .routes(routes!(tenants::set_flapping_policy))
        .routes(routes!(tenants::set_rate_limit))
        .routes(routes!(tenants::set_rate_limit_ceiling))
        .routes(routes!(tenants::upsert_asset))
        .routes(routes!(tenants::configure_aws))
        .routes(routes!(
            severity_map::get_severity_map,
            severity_map::put_severity_map
        ))
        .routes(routes!(sns::get_topics, sns::put_topics))
        .routes(routes!(sns::list_subscriptions))
        // People.
        .routes(routes!(users::create_user, users::list_users))
        .routes(routes!(
            users::show_user,
            users::change_user,
            users::disable_user
        ))
        .routes(routes!(users::reset_password))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::accept_invite))
        .routes(routes!(auth::change_password))
        .routes(routes!(oidc::status))
        .routes(routes!(oidc::login))
        .routes(routes!(oidc::callback))
        .routes(routes!(me::me))
        .routes(routes!(me::list_sessions))
        .routes(routes!(me::revoke_session))
        // Notifications.
        .routes(routes!(
            notification_channels::create_channel,
            notification_channels::list_channels
        ))
        .routes(routes!(
            notification_channels::show_channel,
            notification_channels::update_channel,
            notification_channels::delete_channel
        ))
        .routes(routes!(notification_channels::test_channel))
        .routes(routes!(
            notification_settings::show_settings,
            notification_settings::change_settings
        ))
        // On-call schedules and escalation policies.
        .routes(routes!(oncall::create_schedule, oncall::list_schedules))
        .routes(routes!(
            oncall::show_schedule,
            oncall::change_schedule,
            oncall::delete_schedule
        ))
        .routes(routes!(oncall::add_override))
        .routes(routes!(oncall::remove_override))
        .routes(routes!(oncall::who_is_on_call))
        .routes(routes!(
            escalation_policies::create_policy,
            escalation_policies::list_policies
        ))
        .routes(routes!(
            escalation_policies::show_policy,
            escalation_policies::change_policy,
            escalation_policies::delete_policy
        ))
        .routes(routes!(escalation_policies::start_escalation))
        .routes(routes!(
            notification_rules::create_rule,
            notification_rules::list_rules
        ))
        .routes(routes!(
            notification_rules::show_rule,
            notification_rules::update_rule,
            notification_rules::delete_rule
        ))
        .routes(routes!(notifications::list_notifications))
        // Analysts.
        .routes(routes!(events::list_events))
        .routes(routes!(audit::list_audit))
        .routes(routes!(audit_seal::public_key))
        .routes(routes!(audit_seal::inclusion_proof))
        .routes(routes!(audit_seal::consistency_proof))
        .routes(routes!(kpis::summary))
        // Alerts and incidents.
        .routes(routes!(alert_views::list_alerts))
        .routes(routes!(alert_views::show_alert))
        .routes(routes!(deliveries::list_deliveries))
        .routes(routes!(alerts::acknowledge))
        .routes(routes!(incident_views::list_incidents))
        .routes(routes!(incident_views::show_incident))
        .routes(routes!(incident_views::list_incident_alerts))
        .routes(routes!(incidents::acknowledge))
        .routes(routes!(incidents::assign))
        .routes(routes!(incidents::resolve))
        .routes(routes!(incidents::escalate))
        .routes(routes!(incidents::reopen))
        .routes(routes!(incidents::comment))
        .routes(routes!(correlation::correlate))
        // Maintenance windows and silences.
        .routes(routes!(
            maintenance::list_windows,
            maintenance::create_window
        ))
        .routes(routes!(
            maintenance::show_window,
            maintenance::change_window,
            maintenance::delete_window
        ))
        .routes(routes!(maintenance::silence_incident))
        // Heartbeats.
        .routes(routes!(heartbeats::list_heartbeats))
        .routes(
            routes!(heartbeats::beat).layer(axum::extract::DefaultBodyLimit::max(
                heartbeats::HEARTBEAT_BODY_LIMIT,
            )),
        )
        .routes(routes!(
            heartbeat_admin::change_heartbeat,
            heartbeat_admin::delete_heartbeat
        ))
        // Remediation.
        .routes(routes!(runbooks::list_runbooks, runbooks::create_runbook))
        .routes(routes!(
            runbooks::show_runbook,
            runbooks::change_runbook,
            runbooks::retire_runbook
        ))
        .routes(routes!(runbooks::execute_runbook))
        .routes(routes!(approvals::list_approvals))
        .routes(routes!(approvals::show_approval))
        .routes(routes!(approvals::approve))
        .routes(routes!(approvals::reject))
        .routes(routes!(executions::list_executions))
        .routes(routes!(executions::show_execution))
        .routes(routes!(patch_compliance::patch_compliance))
        // Webhooks.
        .routes(
            routes!(webhooks::receive).layer(axum::extract::DefaultBodyLimit::max(
                webhooks::WEBHOOK_BODY_LIMIT,
            )),
        )
        // PagerDuty's Events API v2, where its clients post under the
        // `pagerduty` source.
        .routes(
            routes!(pagerduty_events::enqueue).layer(axum::extract::DefaultBodyLimit::max(
                webhooks::WEBHOOK_BODY_LIMIT,
            )),
        )
        .routes(routes!(pagerduty_events::change_enqueue).layer(
            axum::extract::DefaultBodyLimit::max(webhooks::WEBHOOK_BODY_LIMIT),
        ))
}
