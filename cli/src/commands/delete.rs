//! `delete tasks|templates|recordings|replays|topics|topic-handlers`.

use super::{CmdResult, Ctx, PAGE, fail};
use crate::client::{ClientError, ListOptions};
use crate::usage;

/// Deletes everything a paged listing returns, re-listing from offset 0 until a page comes back
/// short (deleted items drop out of the listing). Stops if a page repeats the previous one, so a
/// server that answers 204 without deleting cannot make this loop forever.
fn delete_matching(
    pattern: &str,
    mut list: impl FnMut(&ListOptions) -> Result<Vec<String>, ClientError>,
    mut delete: impl FnMut(&str) -> Result<(), ClientError>,
) -> Result<(), ClientError> {
    let opts = ListOptions {
        limit: PAGE,
        ..ListOptions::new(pattern, &["link"])
    };
    let mut previous: Vec<String> = Vec::new();
    loop {
        let ids = list(&opts)?;
        if !ids.is_empty() && ids == previous {
            return Ok(());
        }
        for id in &ids {
            delete(id)?;
        }
        if ids.len() != PAGE {
            return Ok(());
        }
        previous = ids;
    }
}

/// `kapacitor delete <kind> <id|glob>...`.
pub fn delete(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if args.len() < 2 {
        return Err(ctx.usage_exit("Must pass at least one ID", usage::DELETE));
    }
    let client = ctx.client;
    let patterns = &args[1..];
    match args[0].as_str() {
        "tasks" => {
            for p in patterns {
                delete_matching(
                    p,
                    |o| Ok(client.list_tasks(o)?.into_iter().map(|t| t.id).collect()),
                    |id| client.delete_task(id),
                )?;
            }
        }
        "templates" => {
            for p in patterns {
                delete_matching(
                    p,
                    |o| {
                        Ok(client
                            .list_templates(o)?
                            .into_iter()
                            .map(|t| t.id)
                            .collect())
                    },
                    |id| client.delete_template(id),
                )?;
            }
        }
        "recordings" => {
            for p in patterns {
                delete_matching(
                    p,
                    |o| {
                        Ok(client
                            .list_recordings(o)?
                            .into_iter()
                            .map(|r| r.id)
                            .collect())
                    },
                    |id| client.delete_recording(id),
                )?;
            }
        }
        "replays" => {
            for p in patterns {
                delete_matching(
                    p,
                    |o| Ok(client.list_replays(o)?.into_iter().map(|r| r.id).collect()),
                    |id| client.delete_replay(id),
                )?;
            }
        }
        "topics" => {
            for p in patterns {
                for t in client.list_topics(p, "")? {
                    client.delete_topic(&t.id)?;
                }
            }
        }
        "topic-handlers" => {
            let topic = &args[1];
            for p in &args[2..] {
                for h in client.topic_handlers(topic, p)? {
                    client.delete_topic_handler(topic, &h.id)?;
                }
            }
        }
        other => {
            return fail(format!(
                "cannot delete '{other}' did you mean 'tasks', 'templates', 'recordings', 'replays', 'topics' or 'topic-handlers'?"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn deletes_until_listing_comes_back_short() {
        // 250 matching items: pages of 100, 100, 50 as items disappear.
        let store = RefCell::new((0..250).map(|i| format!("t{i:03}")).collect::<Vec<_>>());
        let deleted = RefCell::new(Vec::new());
        delete_matching(
            "*",
            |o| {
                assert_eq!(o.offset, 0);
                Ok(store.borrow().iter().take(o.limit).cloned().collect())
            },
            |id| {
                store.borrow_mut().retain(|s| s != id);
                deleted.borrow_mut().push(id.to_string());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(deleted.borrow().len(), 250);
        assert!(store.borrow().is_empty());
    }

    #[test]
    fn stops_when_server_does_not_delete() {
        let mut calls = 0;
        delete_matching(
            "*",
            |_| {
                calls += 1;
                Ok((0..PAGE).map(|i| i.to_string()).collect())
            },
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(calls, 2);
    }

    #[test]
    fn delete_errors_propagate() {
        let r = delete_matching(
            "x",
            |_| Ok(vec!["x".to_string()]),
            |_| {
                Err(ClientError::Server {
                    status: 500,
                    message: "nope".into(),
                })
            },
        );
        assert_eq!(r.unwrap_err().to_string(), "nope");
    }
}
