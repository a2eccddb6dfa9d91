//! Writing and reading one train's partition: the conditional header write, journals for
//! commits too large for one transaction (rolled forward by any reader), and reads that
//! settle a half-applied journal first.

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::faults::{cancelled_items, expires_in, is_condition_failure, put_where_allowed};

impl DynamoStore {
    /// The items of a train's partition from sort key `from` on (all of them with `None`),
    /// strongly consistent, all pages.
    async fn partition_from(
        &self,
        id: &TrainId,
        from: Option<&str>,
    ) -> Result<Vec<Item>, PortError> {
        let mut values = Item::from([(":pk".to_owned(), s(pk(id)))]);
        if let Some(from) = from {
            values.insert(":from".to_owned(), s(from));
        }
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression(if from.is_some() {
                    "pk = :pk AND sk >= :from"
                } else {
                    "pk = :pk"
                })
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_fault("dynamodb:Query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// Writes entries in transactions of up to 100. An item whose condition fails (already
    /// written, or newer) is dropped and the rest retried: the write is idempotent.
    pub(super) async fn put_entries(
        &self,
        pk: &str,
        entries: &[Entry],
        version: Version,
    ) -> Result<(), PortError> {
        for chunk in entries.chunks(TRANSACTION_ITEMS) {
            let puts = chunk
                .iter()
                .map(|e| Ok(((), e.to_put(&self.table, pk, version)?)))
                .collect::<Result<Vec<_>, PortError>>()?;
            put_where_allowed(&self.client, puts).await?;
        }
        Ok(())
    }

    /// Stores `plan` under the header condition; `None` when the condition failed.
    pub(super) async fn write(
        &self,
        plan: Plan,
        condition: &str,
        values: Item,
    ) -> Result<Option<Version>, PortError> {
        let pk = match plan.header.get("pk") {
            Some(AttributeValue::S(p)) => p.clone(),
            _ => return Err(PortError::fatal("header without pk")),
        };
        let header_put = |header: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(header))
                .condition_expression(condition)
                .set_expression_attribute_values((!values.is_empty()).then(|| values.clone()))
                .build()
                .map_err(|e| PortError::fatal(e.to_string()))
        };
        if plan.entries.len() < TRANSACTION_ITEMS {
            let mut items = vec![
                TransactWriteItem::builder()
                    .put(header_put(plan.header)?)
                    .build(),
            ];
            for e in &plan.entries {
                items.push(
                    TransactWriteItem::builder()
                        .put(e.to_put(&self.table, &pk, plan.version)?)
                        .build(),
                );
            }
            return match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => Ok(Some(plan.version)),
                Err(e) if cancelled_items(&e).contains(&0) => Ok(None),
                Err(e) => Err(transact_fault(e)),
            };
        }
        // Too large for one transaction: journal, then the header as the commit point.
        let journal = gzip(body(&plan.entries)?.as_bytes())?;
        let parts: Vec<&[u8]> = journal.chunks(JOURNAL_PART).collect();
        let name = format!("{}#{}#{}", plan.version, token(), parts.len());
        for (i, part) in parts.iter().enumerate() {
            let item = Item::from([
                ("pk".into(), s(&pk)),
                ("sk".into(), s(format!("J#{name}#{i:03}"))),
                (
                    "data".into(),
                    AttributeValue::B(aws_smithy_types::Blob::new(part.to_vec())),
                ),
                // A journal whose commit lost its race is never read: let it expire.
                (EXPIRES_AT.into(), expires_in(7)),
            ]);
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| sdk_fault("dynamodb:PutItem", e))?;
        }
        let mut header = plan.header;
        header.insert("journal".into(), s(&name));
        match self
            .client
            .put_item()
            .set_item(Some(header))
            .table_name(&self.table)
            .condition_expression(condition)
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is_condition_failure(&e) => {
                self.delete_journal(&pk, &name).await;
                return Ok(None);
            }
            Err(e) => return Err(sdk_fault("dynamodb:PutItem", e)),
        }
        if self.crash_before_apply {
            return Err(PortError::retryable(
                "injected crash after the commit point",
            ));
        }
        self.roll_forward(&pk, &name).await?;
        Ok(Some(plan.version))
    }

    /// Applies a committed journal and clears it from the header. Safe to run many times,
    /// concurrently, and after newer commits.
    pub(super) async fn roll_forward(&self, pk: &str, name: &str) -> Result<(), PortError> {
        let (version, parts) = name
            .split_once('#')
            .and_then(|(v, rest)| {
                Some((
                    v.parse::<Version>().ok()?,
                    rest.rsplit_once('#')?.1.parse::<usize>().ok()?,
                ))
            })
            .ok_or_else(|| PortError::fatal(format!("malformed journal name {name}")))?;
        let mut data = Vec::new();
        for i in 0..parts {
            let part = self.get_consistent(pk, format!("J#{name}#{i:03}")).await?;
            match part.and_then(|mut it| it.remove("data")) {
                Some(AttributeValue::B(b)) => data.extend_from_slice(b.as_ref()),
                // Already applied and cleaned up by someone else.
                _ => return Ok(()),
            }
        }
        let entries: Vec<Entry> =
            serde_json::from_slice(&gunzip(&data)?).map_err(|e| json_fault(&e))?;
        self.put_entries(pk, &entries, version).await?;
        let cleared = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s("H"))
            .update_expression("REMOVE journal")
            .condition_expression("journal = :j")
            .expression_attribute_values(":j", s(name))
            .send()
            .await;
        match cleared {
            Ok(_) => {}
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(sdk_fault("dynamodb:UpdateItem", e)),
        }
        self.delete_journal(pk, name).await;
        Ok(())
    }

    /// Best effort: a journal left behind is garbage, never read again.
    pub(super) async fn delete_journal(&self, pk: &str, name: &str) {
        let parts = name
            .rsplit_once('#')
            .and_then(|(_, p)| p.parse::<usize>().ok())
            .unwrap_or(0);
        for i in 0..parts {
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(format!("J#{name}#{i:03}")))
                .send()
                .await;
            if let Err(e) = deleted {
                debug!(error = %sdk_fault("dynamodb:DeleteItem", e), "journal part left behind");
            }
        }
    }

    /// The partition, with any committed journal applied first.
    pub(super) async fn settled_partition(&self, id: &TrainId) -> Result<Vec<Item>, PortError> {
        self.settled_from(id, None).await
    }

    /// The outbox's items (done ids `D#`, the header `H`, journal parts `J#`, outbox pages
    /// `O#`: every sort key from `D#` on), after rolling any journal forward, without the
    /// components and the audit trail that sort before them (a few items instead of three
    /// 1 MB pages at 1,000 components).
    pub(super) async fn settled_outbox(&self, id: &TrainId) -> Result<Vec<Item>, PortError> {
        self.settled_from(id, Some("D#")).await
    }

    async fn settled_from(&self, id: &TrainId, from: Option<&str>) -> Result<Vec<Item>, PortError> {
        for _ in 0..5 {
            let items = self.partition_from(id, from).await?;
            let journal = items
                .iter()
                .find(|i| matches!(i.get("sk"), Some(AttributeValue::S(k)) if k == "H"))
                .and_then(|h| match h.get("journal") {
                    Some(AttributeValue::S(j)) => Some(j.clone()),
                    _ => None,
                });
            match journal {
                None => return Ok(items),
                Some(name) => self.roll_forward(&pk(id), &name).await?,
            }
        }
        Err(PortError::retryable(format!(
            "train {id} keeps changing; try again"
        )))
    }
}
