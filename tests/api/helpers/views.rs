//! What the admin API shows of an employee, a job or a dead letter, waited for.

use serde_json::Value;

use super::*;

impl TestApp {
    /// A background job once it has ended (`GET /admin/jobs/{id}`).
    pub async fn job_end(&self, id: i64) -> Value {
        wait_for(&format!("job {id} to end"), || async {
            let response = self.admin_get(&format!("/admin/jobs/{id}")).await;
            let job: Value = response.json().await.ok()?;
            (job["status"] != "running").then_some(job)
        })
        .await
    }

    /// `employee show` through the admin API; `None` while the employee is unknown.
    pub async fn employee(&self, source: &str, id: &str) -> Option<Value> {
        let response = self
            .admin_get(&format!("/admin/employees/{source}/{id}"))
            .await;
        if response.status() == 404 {
            return None;
        }
        assert_eq!(response.status(), 200);
        Some(response.json().await.expect("json body"))
    }

    /// Wait until the employee has at least `n` processed events, then return the view.
    pub async fn employee_after(&self, source: &str, id: &str, n: usize) -> Value {
        wait_for(&format!("{n} events for {source}/{id}"), || async {
            let view = self.employee(source, id).await?;
            let count = view["events"].as_array().map_or(0, Vec::len);
            (count >= n).then_some(view)
        })
        .await
    }

    /// An `hris` employee's state on `target`, as `employee show` reports it.
    pub async fn target_status(&self, employee: &str, target: &str) -> Option<String> {
        let view = self.employee("hris", employee).await?;
        let targets = view["targets"].as_array()?;
        let entry = targets.iter().find(|t| t["target"] == target)?;
        entry["status"].as_str().map(str::to_owned)
    }

    /// Wait until an `hris` employee is `status` on `target`.
    pub async fn wait_target(&self, employee: &str, target: &str, status: &str) {
        let what = format!("{target} to be {status} for {employee}");
        wait_for(&what, || async {
            let now = self.target_status(employee, target).await;
            (now.as_deref() == Some(status)).then_some(())
        })
        .await;
    }

    /// Wait for the event's dead letter with status `dead`, as the admin API lists it.
    pub async fn dead_letter(&self, event_id: &str) -> Value {
        wait_for(&format!("a dead letter for {event_id}"), || async {
            let response = self.admin_get("/admin/dead-letters").await;
            let list: Value = response.json().await.ok()?;
            let found = list
                .as_array()?
                .iter()
                .find(|d| d["event_id"] == event_id)?;
            (found["status"] == "dead").then(|| found.clone())
        })
        .await
    }

    pub async fn events_for_source(&self, source: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE source = $1")
            .bind(source)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Wait until the employee's status is `status`, then return the view.
    pub async fn wait_status(&self, source: &str, employee: &str, status: &str) -> Value {
        wait_for(&format!("{employee} to be {status}"), || async {
            let view = self.employee(source, employee).await?;
            (view["status"] == status).then_some(view)
        })
        .await
    }

    /// When an employee's account (the directory's) was last written.
    pub async fn account_updated_at(&self, employee: &str) -> chrono::DateTime<chrono::Utc> {
        sqlx::query_scalar("SELECT updated_at FROM accounts WHERE employee_id = $1")
            .bind(employee)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// The deprovision report (`GET /admin/audit/deprovision?{query}`), which must be 200.
    pub async fn deprovision_report(&self, query: &str) -> Value {
        let response = self
            .admin_get(&format!("/admin/audit/deprovision?{query}"))
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}
