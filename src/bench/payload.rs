//! Realistic webhook bodies (~1 KB) for the configured `merge` and `standard-webhooks`
//! sources, every one unique, signed the way each sender signs them.

use std::time::SystemTime;

use anyhow::Context as _;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::config::Config;
use crate::domain::SourceKind;
use crate::signing::{self, SigningKey};

/// One request ready to send: `POST /webhooks/{source}` with these headers and body.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub source: String,
    pub kind: SourceKind,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

/// An employee the bench created and may terminate later.
#[derive(Debug, Clone)]
pub struct Employee {
    /// Index into [`Senders`]' list: which source the employee lives in.
    pub sender: usize,
    pub source: String,
    pub employee_id: String,
}

struct Sender {
    name: String,
    kind: SourceKind,
    key: SigningKey,
}

/// The sources the bench posts to: the first `standard-webhooks` and the first `merge`
/// source of the configuration (at least one of them must exist).
pub struct Senders {
    list: Vec<Sender>,
    /// Distinguishes this run's ids from any other run's.
    run: String,
}

const DEPARTMENTS: [&str; 6] = [
    "Engineering",
    "Sales",
    "Customer Success",
    "Finance",
    "People",
    "Marketing",
];
const TITLES: [&str; 6] = [
    "Senior Software Engineer",
    "Account Executive",
    "Support Specialist",
    "Financial Analyst",
    "People Partner",
    "Product Marketing Manager",
];
const LOCATIONS: [&str; 4] = ["London", "Paris", "Berlin", "New York"];
const NAMES: [(&str, &str); 6] = [
    ("Katherine", "Johnson"),
    ("Grace", "Hopper"),
    ("Ada", "Lovelace"),
    ("Dorothy", "Vaughan"),
    ("Mary", "Jackson"),
    ("Radia", "Perlman"),
];

impl Senders {
    pub fn from_config(config: &Config, run: &str) -> anyhow::Result<Senders> {
        let mut list = Vec::new();
        for kind in [SourceKind::Merge, SourceKind::StandardWebhooks] {
            let Some(source) = config.sources.iter().find(|s| s.kind == kind) else {
                continue;
            };
            let secret = source.secrets.first().context("a source without secrets")?;
            let key = SigningKey::from_secret(kind, secret.expose()).map_err(anyhow::Error::msg)?;
            list.push(Sender {
                name: source.name.clone(),
                kind,
                key,
            });
        }
        if list.is_empty() {
            anyhow::bail!(
                "the bench needs a `merge` or `standard-webhooks` source in the configuration"
            );
        }
        Ok(Senders {
            list,
            run: run.to_owned(),
        })
    }

    /// The configured source names the bench posts to.
    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|s| s.name.as_str()).collect()
    }

    /// The employee that request number `seq` of `phase` is about (alternating sources).
    pub fn employee(&self, phase: &str, seq: u64) -> Employee {
        let sender = (seq % self.list.len() as u64) as usize;
        Employee {
            sender,
            source: self.list[sender].name.clone(),
            employee_id: format!("{phase}-{}-{seq:08}", self.run),
        }
    }

    /// A signed hire of a new employee.
    pub fn hire(&self, employee: &Employee, seq: u64) -> SignedRequest {
        self.request(employee, seq, false)
    }

    /// A signed termination (effective now) of an employee hired earlier.
    pub fn terminate(&self, employee: &Employee, seq: u64) -> SignedRequest {
        self.request(employee, seq, true)
    }

    fn request(&self, employee: &Employee, seq: u64, leaver: bool) -> SignedRequest {
        let sender = &self.list[employee.sender];
        let now = Utc::now();
        let body = match sender.kind {
            SourceKind::Merge => merge_body(&employee.employee_id, seq, now, leaver),
            _ => envelope_body(&employee.employee_id, seq, now, leaver),
        };
        // Unique per employee and kind: a repeated id would be deduplicated, not applied.
        let kind = if leaver { "leave" } else { "hire" };
        let msg_id = format!("msg_{kind}_{}", employee.employee_id);
        let headers = signing::sign(sender.kind, &sender.key, &body, SystemTime::now(), &msg_id);
        SignedRequest {
            source: sender.name.clone(),
            kind: sender.kind,
            headers,
            body: Bytes::from(body),
        }
    }
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn pick<T: Copy>(list: &[T], seq: u64) -> T {
    list[(seq % list.len() as u64) as usize]
}

/// A Merge `Employee.created` / `Employee.changed` (INACTIVE, terminated yesterday) with the
/// common model's usual fields.
fn merge_body(id: &str, seq: u64, now: DateTime<Utc>, leaver: bool) -> Vec<u8> {
    let (first, last) = pick(&NAMES, seq);
    let department = pick(&DEPARTMENTS, seq);
    let title = pick(&TITLES, seq);
    let (event, status, termination) = if leaver {
        let yesterday = (now - chrono::Duration::days(1)).format("%Y-%m-%dT00:00:00Z");
        ("Employee.changed", "INACTIVE", format!("\"{yesterday}\""))
    } else {
        ("Employee.created", "ACTIVE", "null".to_owned())
    };
    let lower = first.to_ascii_lowercase();
    format!(
        concat!(
            r#"{{"hook":{{"id":"{hook}","event":"{event}","target":"https://provisiond.example/webhooks/merge"}},"#,
            r#""linked_account":{{"id":"la_0d1e2f3a","integration":"Personio","integration_slug":"personio","#,
            r#""category":"hris","end_user_origin_id":"org_4711","end_user_organization_name":"Orbit Inc.","#,
            r#""status":"COMPLETE"}},"data":{{"id":"{id}","remote_id":"{seq}","employee_number":"E{seq:06}","#,
            r#""company":"8b3f2e10-1c5d-4a7e-9f00-4f1a2b3c4d5e","first_name":"{first}","last_name":"{last}","#,
            r#""display_full_name":"{first} {last}","username":"{lower}.{seq}","#,
            r#""work_email":"{lower}.{seq}@orbit.example","personal_email":"{lower}{seq}@home.example","#,
            r#""mobile_phone_number":"+1 555 01{seq2:02}","department":"{department}","job_title":"{title}","#,
            r#""manager":"mgr-{mgr:04}","team":"team-{team}","pay_group":"monthly","#,
            r#""work_location":"{location}","employment_status":"{status}","#,
            r#""hire_date":"2024-03-01T00:00:00Z","start_date":"2024-03-04T00:00:00Z","#,
            r#""termination_date":{termination},"remote_created_at":"2024-02-20T10:11:12Z","#,
            r#""custom_fields":{{"cost_center":"CC-{cc}","remote":false}},"remote_was_deleted":false,"#,
            r#""modified_at":"{modified}"}}}}"#
        ),
        hook = format_args!("{:032x}", u128::from(seq) ^ 0x5eed_0000_0000),
        event = event,
        id = id,
        seq = seq,
        first = first,
        last = last,
        lower = lower,
        seq2 = seq % 100,
        department = department,
        title = title,
        mgr = seq % 97,
        team = seq % 13,
        location = pick(&LOCATIONS, seq),
        status = status,
        termination = termination,
        cc = 1000 + seq % 50,
        modified = stamp(now),
    )
    .into_bytes()
}

/// provisiond's canonical envelope, as a product posting directly would send it.
fn envelope_body(id: &str, seq: u64, now: DateTime<Utc>, leaver: bool) -> Vec<u8> {
    let (first, last) = pick(&NAMES, seq);
    let (kind, status) = if leaver {
        ("employee.terminated", "terminated")
    } else {
        ("employee.created", "active")
    };
    let lower = first.to_ascii_lowercase();
    format!(
        concat!(
            r#"{{"type":"{kind}","timestamp":"{timestamp}","data":{{"id":"{id}","#,
            r#""email":"{lower}.{seq}@orbit.example","given_name":"{first}","family_name":"{last}","#,
            r#""display_name":"{first} {last}","department":"{department}","title":"{title}","#,
            r#""manager_id":"mgr-{mgr:04}","location":"{location}","start_date":"2024-03-04","#,
            r#""status":"{status}","employment_type":"FULL_TIME","phone":"+44 20 7946 {seq4:04}","#,
            r#""cost_center":"CC-{cc}","legal_entity":"Orbit Europe Ltd","#,
            r#""work_schedule":"Mon-Fri 09:00-17:30","groups":["{group}","{location_lower}","all-staff"],"#,
            r#""custom_fields":{{"laptop":"ThinkPad X1 Carbon","badge_id":"B-{seq:06}","remote":false,"#,
            r#""shirt_size":"M","slack_handle":"@{lower}.{seq}","github":"{lower}-{seq}","#,
            r#""emergency_contact":"on file","probation_end":"2024-09-04","#,
            r#""desk":"{location} HQ, floor 3, desk {desk}","onboarding_buddy":"mgr-{buddy:04}","#,
            r#""notes":"created by provisiond bench; every body is unique"}}}}}}"#
        ),
        kind = kind,
        timestamp = stamp(now),
        id = id,
        lower = lower,
        seq = seq,
        first = first,
        last = last,
        department = pick(&DEPARTMENTS, seq),
        title = pick(&TITLES, seq),
        mgr = seq % 97,
        location = pick(&LOCATIONS, seq),
        location_lower = pick(&LOCATIONS, seq).to_ascii_lowercase(),
        status = status,
        seq4 = seq % 10_000,
        cc = 1000 + seq % 50,
        group = pick(&DEPARTMENTS, seq).to_ascii_lowercase(),
        desk = seq % 240,
        buddy = (seq + 7) % 97,
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{EventKind, Normalized};
    use crate::normalize::normalize;

    fn config() -> Config {
        Config::from_toml(super::super::EXAMPLE_CONFIG).unwrap()
    }

    fn kind_of(kind: SourceKind, body: &[u8]) -> EventKind {
        match normalize(kind, body, Utc::now()).unwrap() {
            Normalized::Employee(event) => event.kind,
            other => panic!("not an employee event: {other:?}"),
        }
    }

    #[test]
    fn bodies_are_about_one_kilobyte_valid_and_unique() {
        let senders = Senders::from_config(&config(), "r1").unwrap();
        assert_eq!(senders.names(), ["merge", "hris"]);
        let mut seen = std::collections::HashSet::new();
        for seq in 0..4 {
            let employee = senders.employee("p", seq);
            let hire = senders.hire(&employee, seq);
            let leave = senders.terminate(&employee, seq);
            for request in [&hire, &leave] {
                let len = request.body.len();
                assert!((850..=1300).contains(&len), "{len} bytes");
                assert!(seen.insert(request.body.clone()));
                serde_json::from_slice::<serde_json::Value>(&request.body).unwrap();
            }
            let kind = senders.list[employee.sender].kind;
            assert_eq!(kind_of(kind, &hire.body), EventKind::Created);
            assert_eq!(kind_of(kind, &leave.body), EventKind::Terminated);
        }
    }

    #[test]
    fn requests_verify_with_the_configured_keys() {
        let config = config();
        let senders = Senders::from_config(&config, "r2").unwrap();
        for seq in 0..2 {
            let employee = senders.employee("v", seq);
            let request = senders.hire(&employee, seq);
            let source = config.source(&request.source).unwrap();
            let mut headers = axum::http::HeaderMap::new();
            for (name, value) in &request.headers {
                headers.insert(*name, value.parse().unwrap());
            }
            let keys = source.keys();
            let verified = signing::verify(
                source.kind,
                &headers,
                &request.body,
                keys,
                source.effective_tolerance(),
                SystemTime::now(),
            );
            assert!(verified.is_ok(), "{}", request.source);
        }
    }
}
