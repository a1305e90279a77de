//! The catalog test that cannot drift: it reads Postgres's own catalog after every service's
//! migrations, so a new table, column or role is checked without anyone listing it here.

use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use testkit::TestDb;

use crate::all_services;

const SCHEMAS: [&str; 5] = ["auth", "voice", "calendar", "messaging", "leads"];

#[derive(diesel::QueryableByName, Debug)]
struct TenantTable {
    #[diesel(sql_type = Text)]
    schema: String,
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = Bool)]
    rls: bool,
    #[diesel(sql_type = Bool)]
    forced: bool,
    #[diesel(sql_type = BigInt)]
    policies: i64,
    #[diesel(sql_type = BigInt)]
    immutable_trigger: i64,
    #[diesel(sql_type = Text)]
    comment: String,
}

/// Every violation of ARCHITECTURE §3 found in the catalog, and how many org tables were seen.
async fn violations(conn: &mut AsyncPgConnection) -> (Vec<String>, usize) {
    let tables: Vec<TenantTable> = diesel::sql_query(
        "SELECT n.nspname::text AS schema, c.relname::text AS table, c.relrowsecurity AS rls,
                c.relforcerowsecurity AS forced,
                (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
                (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'org_id_immutable') AS immutable_trigger,
                coalesce(obj_description(c.oid, 'pg_class'), '') AS comment
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped
          WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1)
          ORDER BY 1, 2",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(SCHEMAS.to_vec())
    .load(conn)
    .await
    .unwrap();
    let mut out = Vec::new();
    for t in &tables {
        if t.comment.starts_with("system:") {
            continue;
        }
        let name = format!("{}.{}", t.schema, t.table);
        if !t.rls {
            out.push(format!("{name}: row level security not enabled"));
        }
        if !t.forced {
            out.push(format!("{name}: row level security not forced"));
        }
        if t.policies == 0 {
            out.push(format!("{name}: no policy"));
        }
        if t.immutable_trigger == 0 {
            out.push(format!(
                "{name}: org_id is not protected by the org_id_immutable trigger"
            ));
        }
    }
    (out, tables.len())
}

#[derive(diesel::QueryableByName, Debug)]
struct RoleRow {
    #[diesel(sql_type = Text)]
    rolname: String,
    #[diesel(sql_type = Bool)]
    rolsuper: bool,
    #[diesel(sql_type = Bool)]
    rolbypassrls: bool,
    #[diesel(sql_type = BigInt)]
    owned: i64,
}

#[tokio::test]
async fn every_tenant_table_forces_rls_and_login_roles_cannot_bypass_it() {
    let db = TestDb::for_services(&all_services()).await.unwrap();
    let mut conn = db.admin_conn().await.unwrap();

    let (found, seen) = violations(&mut conn).await;
    assert!(
        found.is_empty(),
        "tenant tables breaking ARCHITECTURE §3:\n{}",
        found.join("\n")
    );
    assert!(
        seen >= 5,
        "expected every service to have at least one tenant table, saw {seen}"
    );

    let roles: Vec<RoleRow> = diesel::sql_query(
        "SELECT r.rolname::text AS rolname, r.rolsuper, r.rolbypassrls,
                (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
              + (SELECT count(*) FROM pg_namespace n WHERE n.nspowner = r.oid) AS owned
           FROM pg_roles r WHERE r.rolname LIKE 'svc\\_%' OR r.rolname LIKE '%\\_owner' ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let logins: Vec<_> = roles
        .iter()
        .filter(|r| r.rolname.starts_with("svc_"))
        .collect();
    assert_eq!(logins.len(), 5, "{roles:?}");
    for r in &roles {
        assert!(!r.rolsuper, "{} is a superuser", r.rolname);
        assert!(!r.rolbypassrls, "{} has BYPASSRLS", r.rolname);
    }
    for r in &logins {
        assert_eq!(r.owned, 0, "{} owns tables or schemas", r.rolname);
    }

    // Each login role reaches its own schema only.
    for login in ["auth", "voice", "calendar", "messaging", "leads"] {
        for schema in SCHEMAS.iter().chain(["tenancy", "public"].iter()) {
            #[derive(diesel::QueryableByName)]
            struct Usage {
                #[diesel(sql_type = Bool)]
                usage: bool,
            }
            let u: Usage =
                diesel::sql_query("SELECT has_schema_privilege($1, $2, 'USAGE') AS usage")
                    .bind::<Text, _>(format!("svc_{login}"))
                    .bind::<Text, _>(*schema)
                    .get_result(&mut conn)
                    .await
                    .unwrap();
            assert_eq!(
                u.usage,
                *schema == login,
                "svc_{login} USAGE on schema {schema}"
            );
        }
    }
}

#[tokio::test]
async fn the_catalog_check_catches_a_table_without_forced_rls() {
    let db = TestDb::for_services(&all_services()).await.unwrap();
    // A careless migration, applied as the schema owner like a real one.
    let mut owner =
        <AsyncPgConnection as diesel_async::AsyncConnection>::establish(&db.url_as("leads_owner"))
            .await
            .unwrap();
    owner
        .batch_execute("CREATE TABLE careless (id serial PRIMARY KEY, org_id uuid NOT NULL)")
        .await
        .unwrap();
    owner
        .batch_execute("CREATE TABLE half_done (id serial PRIMARY KEY, org_id uuid NOT NULL); ALTER TABLE half_done ENABLE ROW LEVEL SECURITY;")
        .await
        .unwrap();
    owner
        .batch_execute("CREATE TABLE relay_state (id serial PRIMARY KEY, org_id uuid); COMMENT ON TABLE relay_state IS 'system: relay bookkeeping, never read by tenant endpoints';")
        .await
        .unwrap();
    let mut admin = db.admin_conn().await.unwrap();
    let (found, _) = violations(&mut admin).await;
    assert!(
        found
            .iter()
            .any(|v| v == "leads.careless: row level security not enabled"),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v == "leads.half_done: row level security not forced"),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|v| v.contains("relay_state")),
        "system tables are exempt: {found:?}"
    );
}
