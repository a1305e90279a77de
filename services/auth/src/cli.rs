//! auth's own operator commands: `auth keys rotate`, `auth flags list`,
//! `auth flags set <key> [--default on|off] [--rollout 0-100] [--description TEXT]`.

use bus::service::Context;
use chrono::Utc;
use servicekit::db::checkout;

use crate::app::AuthOwn;
use crate::keys::KeyStore;
use crate::store::flags::{self, Flag};

pub async fn run(ctx: Context<AuthOwn>, args: Vec<String>) -> anyhow::Result<()> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["keys", "rotate"] => {
            let kid = KeyStore::rotate(
                &ctx.platform.pg,
                &ctx.settings.common.keys,
                ctx.own.settings.access_ttl,
            )
            .await?;
            println!(
                "auth: new signing key {kid}; the previous key stays published until its tokens expire"
            );
            Ok(())
        }
        ["flags", "list"] => {
            let mut conn = checkout(&ctx.platform.pg).await?;
            for f in flags::all(&mut conn).await? {
                println!("{}", serde_json::to_string(&f)?);
            }
            Ok(())
        }
        ["flags", "set", key, rest @ ..] => {
            let mut conn = checkout(&ctx.platform.pg).await?;
            let existing = flags::all(&mut conn)
                .await?
                .into_iter()
                .find(|f| f.key == *key);
            let mut flag = existing.unwrap_or(Flag {
                key: (*key).to_string(),
                description: String::new(),
                default_enabled: false,
                rollout_percent: 0,
                updated_at: Utc::now(),
            });
            let mut it = rest.iter();
            while let Some(opt) = it.next() {
                let value = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{opt} needs a value"))?;
                match *opt {
                    "--default" => {
                        flag.default_enabled = match *value {
                            "on" | "true" => true,
                            "off" | "false" => false,
                            other => anyhow::bail!("--default takes on or off, not {other:?}"),
                        }
                    }
                    "--rollout" => {
                        let p: i16 = value.parse()?;
                        anyhow::ensure!((0..=100).contains(&p), "--rollout takes 0 to 100");
                        flag.rollout_percent = p;
                    }
                    "--description" => flag.description = (*value).to_string(),
                    other => anyhow::bail!("unknown option {other}"),
                }
            }
            flag.updated_at = Utc::now();
            flags::upsert(&mut conn, &flag).await?;
            // Every org's cached flags are now stale.
            tenancy::flags::Flags::new(
                ctx.platform.redis.clone(),
                ctx.settings.common.redis_prefix.clone(),
            )
            .bump_generation()
            .await?;
            tracing::info!(key = %flag.key, default = flag.default_enabled, rollout = flag.rollout_percent, "feature flag set");
            println!("{}", serde_json::to_string(&flag)?);
            Ok(())
        }
        _ => anyhow::bail!(
            "unknown command {args:?}; try `auth keys rotate`, `auth flags list` or `auth flags set <key> --default on|off --rollout N`"
        ),
    }
}
