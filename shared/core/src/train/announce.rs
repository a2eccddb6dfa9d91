//! What the train tells the world: one event per audit record that matters, the final
//! manifest, and the figures for lead time and time in state.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Train {
    /// Publishes one announcement per audit record this transition added that changed the
    /// state, came from outside the train (a person, an alarm) or is one of [`NOTICES`], in
    /// the order of the history: a resume followed at once by a promotion is two events,
    /// and an approval (which changes no state) is one, so whoever watches the bus learns
    /// who did what, in order. Writes the final manifest on a terminal state.
    pub(super) fn announce_changes(
        &mut self,
        before: State,
        recorded_before: usize,
        effects: &mut Vec<Effect>,
        now: DateTime<Utc>,
    ) {
        let after = self.state();
        let excluded = self.excluded();
        let mut announced_after = false;
        for r in self.history.iter().skip(recorded_before) {
            if r.from == r.to && r.actor.is_the_train() && !NOTICES.contains(&r.action.as_str()) {
                continue;
            }
            announced_after = r.to == after;
            effects.push(Effect::Publish(Announcement {
                train: self.id.clone(),
                from: Some(r.from),
                to: r.to,
                actor: r.actor.clone(),
                reason: r.reason.clone(),
                at: now,
                captain: self.captain.clone(),
                action: Some(r.action.clone()),
                excluded: excluded.clone(),
            }));
        }
        if before != after && !announced_after {
            // A change no record explains (none today): still one event for it.
            self.announce_if_changed(Some(before), effects, now);
        } else if before != after && self.is_terminal() {
            effects.push(Effect::WriteManifest { state: after });
        }
    }

    /// Publishes a change of the visible state; writes the final manifest on a terminal one.
    pub(super) fn announce_if_changed(
        &mut self,
        before: Option<State>,
        effects: &mut Vec<Effect>,
        now: DateTime<Utc>,
    ) {
        let after = self.state();
        if before == Some(after) {
            return;
        }
        let last = self.history.last();
        effects.push(Effect::Publish(Announcement {
            train: self.id.clone(),
            from: before,
            to: after,
            actor: last.map_or_else(Actor::system, |r| r.actor.clone()),
            reason: last.and_then(|r| r.reason.clone()),
            at: now,
            captain: self.captain.clone(),
            action: last.map(|r| r.action.clone()),
            excluded: self.excluded(),
        }));
        if self.is_terminal() {
            effects.push(Effect::WriteManifest { state: after });
        }
    }

    /// The components that do not ship with this train, and why.
    fn excluded(&self) -> BTreeMap<ComponentName, String> {
        self.components
            .iter()
            .filter_map(|(n, r)| r.excluded.clone().map(|why| (n.clone(), why)))
            .collect()
    }

    /// When the oldest commit this train ships was committed, where the builder could read it.
    pub fn oldest_commit_at(&self) -> Option<DateTime<Utc>> {
        self.components
            .values()
            .filter(|r| r.ships())
            .filter_map(|r| r.changelog.as_ref()?.oldest_commit_at)
            .min()
    }

    /// How long this unsettled train has been in its state, for the stuck-train alarms
    /// (emitted by each reconcile pass); `None` once the train has ended.
    pub fn time_in_state(&self, now: DateTime<Utc>) -> Option<Metric> {
        if self.is_terminal() {
            return None;
        }
        let since = self
            .history
            .iter()
            .rev()
            .find(|r| r.from != r.to)
            .map_or(self.cut_at, |r| r.at);
        Some(new_metric(
            MetricName::TimeInState,
            seconds(now - since).max(0.0),
            Unit::Seconds,
            &[("State", self.state().as_str())],
        ))
    }
}
