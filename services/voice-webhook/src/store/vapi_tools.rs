//! The Vapi tool ids voice registered (system table `vapi_tools`): one row per tool name with
//! the definition last synced.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use super::schema::vapi_tools;

/// Every recorded tool: (name, Vapi id, definition).
pub async fn recorded(conn: &mut AsyncPgConnection) -> QueryResult<Vec<(String, String, Value)>> {
    vapi_tools::table
        .select((
            vapi_tools::name,
            vapi_tools::vapi_tool_id,
            vapi_tools::definition,
        ))
        .load::<(String, String, Value)>(conn)
        .await
}

/// Records (or updates) the Vapi id and definition of tool `name`.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    name: &str,
    vapi_tool_id: &str,
    definition: &Value,
) -> QueryResult<()> {
    diesel::insert_into(vapi_tools::table)
        .values((
            vapi_tools::name.eq(name),
            vapi_tools::vapi_tool_id.eq(vapi_tool_id),
            vapi_tools::definition.eq(definition),
        ))
        .on_conflict(vapi_tools::name)
        .do_update()
        .set((
            vapi_tools::vapi_tool_id.eq(vapi_tool_id),
            vapi_tools::definition.eq(definition),
            vapi_tools::synced_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The Vapi ids of the named tools, by name.
pub async fn ids_of(conn: &mut AsyncPgConnection, names: Vec<String>) -> QueryResult<Vec<String>> {
    vapi_tools::table
        .filter(vapi_tools::name.eq_any(names))
        .order(vapi_tools::name.asc())
        .select(vapi_tools::vapi_tool_id)
        .load::<String>(conn)
        .await
}
