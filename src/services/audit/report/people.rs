//! Who each termination is about: name and email from the employee's directory account.

use std::collections::HashMap;

use sqlx::PgConnection;

use super::Timeline;

#[derive(sqlx::FromRow)]
struct Person {
    source: String,
    employee_id: String,
    name: Option<String>,
    email: Option<String>,
}

/// Fill in `employee_name` and `employee_email` from the most recently updated account
/// of each employee (the display name, else given and family name).
pub(super) async fn name_them(
    conn: &mut PgConnection,
    timelines: &mut [Timeline],
) -> Result<(), sqlx::Error> {
    let (sources, ids): (Vec<String>, Vec<String>) = timelines
        .iter()
        .filter_map(|t| Some((t.source.clone(), t.employee_id.clone()?)))
        .unzip();
    if ids.is_empty() {
        return Ok(());
    }
    let people: Vec<Person> = sqlx::query_as(
        "SELECT DISTINCT ON (a.source, a.employee_id) a.source, a.employee_id, \
         COALESCE(NULLIF(btrim(a.display_name), ''), \
                  NULLIF(btrim(concat_ws(' ', a.given_name, a.family_name)), '')) AS name, \
         NULLIF(btrim(a.email), '') AS email \
         FROM accounts a \
         JOIN unnest($1::text[], $2::text[]) AS k(source, employee_id) \
           ON a.source = k.source AND a.employee_id = k.employee_id \
         ORDER BY a.source, a.employee_id, a.updated_at DESC",
    )
    .bind(&sources)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let people: HashMap<(String, String), Person> = people
        .into_iter()
        .map(|p| ((p.source.clone(), p.employee_id.clone()), p))
        .collect();
    for t in timelines {
        let Some(id) = &t.employee_id else { continue };
        if let Some(p) = people.get(&(t.source.clone(), id.clone())) {
            t.employee_name = p.name.clone();
            t.employee_email = p.email.clone();
        }
    }
    Ok(())
}
