//! AWS identities the SSM executor needs: the tenant's role, its instances,
//! and SSM command ids.

use serde::{Deserialize, Serialize};

use super::{string_conversions, ValueError};

/// The IAM role the executor assumes (with an external id, against the
/// confused-deputy problem) to run commands in a tenant's AWS account.
/// No static keys are ever stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "AwsRoleConfigFields", into = "AwsRoleConfigFields")]
pub struct AwsRoleConfig {
    role_arn: String,
    external_id: String,
    region: String,
}

/// The serialized form of [`AwsRoleConfig`].
#[derive(Serialize, Deserialize)]
struct AwsRoleConfigFields {
    role_arn: String,
    external_id: String,
    region: String,
}

impl AwsRoleConfig {
    /// Checks the role ARN shape (`arn:aws…:iam::…:role/…`), the external id
    /// (2..=1224 characters, as STS allows) and the region (e.g. `eu-west-1`).
    pub fn new(role_arn: &str, external_id: &str, region: &str) -> Result<Self, ValueError> {
        let role_arn = role_arn.trim();
        if !(role_arn.starts_with("arn:aws")
            && role_arn.contains(":iam::")
            && role_arn.contains(":role/"))
            || role_arn.len() > 2048
            || role_arn.chars().any(char::is_whitespace)
        {
            return Err(ValueError::new(
                "role_arn",
                "must be an IAM role ARN like arn:aws:iam::123456789012:role/Name",
            ));
        }
        let external_id_len = external_id.chars().count();
        if !(2..=1224).contains(&external_id_len)
            || external_id
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(ValueError::new(
                "external_id",
                "must be 2..=1224 characters without spaces",
            ));
        }
        let region = region.trim();
        let region_ok = !region.is_empty()
            && region.len() <= 32
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && region.starts_with(|c: char| c.is_ascii_lowercase())
            && !region.ends_with('-');
        if !region_ok {
            return Err(ValueError::new(
                "region",
                "must be an AWS region name like eu-west-1",
            ));
        }
        Ok(Self {
            role_arn: role_arn.to_owned(),
            external_id: external_id.to_owned(),
            region: region.to_owned(),
        })
    }

    /// The role to assume.
    pub fn role_arn(&self) -> &str {
        &self.role_arn
    }

    /// The external id the role's trust policy demands.
    pub fn external_id(&self) -> &str {
        &self.external_id
    }

    /// The region the tenant's instances live in.
    pub fn region(&self) -> &str {
        &self.region
    }
}

impl TryFrom<AwsRoleConfigFields> for AwsRoleConfig {
    type Error = ValueError;

    fn try_from(fields: AwsRoleConfigFields) -> Result<Self, Self::Error> {
        Self::new(&fields.role_arn, &fields.external_id, &fields.region)
    }
}

impl From<AwsRoleConfig> for AwsRoleConfigFields {
    fn from(config: AwsRoleConfig) -> Self {
        Self {
            role_arn: config.role_arn,
            external_id: config.external_id,
            region: config.region,
        }
    }
}

/// An EC2 instance (`i-` + hex) or SSM managed instance (`mi-` + hex) that
/// runbooks target; lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstanceId(String);

impl InstanceId {
    /// Checks the `i-`/`mi-` prefix and 8..=17 hex digits.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let value = raw.trim().to_ascii_lowercase();
        let digits = value
            .strip_prefix("i-")
            .or_else(|| value.strip_prefix("mi-"))
            .unwrap_or_default();
        if !(8..=17).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ValueError::new(
                "instance_id",
                "must be an instance id like i-0123456789abcdef0 or mi-0123456789abcdef0",
            ));
        }
        Ok(Self(value))
    }

    /// The instance id as AWS spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_conversions!(InstanceId);

/// The id SSM gave a sent command (`SendCommand`), needed to poll its
/// invocations and to reconcile after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SsmCommandId(String);

impl SsmCommandId {
    /// Checks 1..=64 characters of letters, digits and `-` (SSM uses UUIDs).
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let value = raw.trim();
        if value.is_empty()
            || value.len() > 64
            || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(ValueError::new(
                "command_id",
                "must be 1..=64 letters, digits or '-'",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The command id as SSM spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_conversions!(SsmCommandId);

/// Most topics a tenant may pin (a tenant with more should use fewer topics).
pub const MAX_PINNED_SNS_TOPICS: usize = 100;

/// An SNS topic ARN, `arn:<partition>:sns:<region>:<account>:<name>`, as
/// SNS puts it in every message's `TopicArn`: partition `aws` or `aws-…`,
/// a region like `eu-west-1`, a 12-digit account and a topic name of 1..=256
/// letters, digits, `-` and `_` (a FIFO topic's ends in `.fifo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SnsTopicArn(String);

impl SnsTopicArn {
    /// Checks each part of the ARN (case-sensitive, as SNS compares them).
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let invalid = |problem: &str| {
            ValueError::new(
                "topic_arn",
                format!(
                    "{problem}; expected an SNS topic ARN like \
                     arn:aws:sns:eu-west-1:123456789012:alarms"
                ),
            )
        };
        let parts: Vec<&str> = raw.split(':').collect();
        let [arn, partition, service, region, account, name] = parts[..] else {
            return Err(invalid("not six colon-separated parts"));
        };
        if arn != "arn" || service != "sns" {
            return Err(invalid("not an arn:…:sns: ARN"));
        }
        let lower = |part: &str| {
            !part.is_empty()
                && part.len() <= 32
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if !(partition == "aws" || partition.starts_with("aws-") && lower(partition)) {
            return Err(invalid("unknown partition"));
        }
        if !lower(region) || !region.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(invalid("invalid region"));
        }
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid("the account must be 12 digits"));
        }
        let base = name.strip_suffix(".fifo").unwrap_or(name);
        let name_ok = !base.is_empty()
            && name.len() <= 256
            && base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(invalid(
                "the topic name must be 1..=256 letters, digits, - and _ (FIFO: ending .fifo)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The ARN as SNS spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_conversions!(SnsTopicArn);
