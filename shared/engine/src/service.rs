//! The service layer: load a train, let the core decide, commit the new state and its
//! effects in one conditional write, then run the effects and mark each one done.
//!
//! Effects run after the commit and may run again (a crash, a retry, two passes racing), so
//! each is idempotent: builds by their idempotency key, manifests by their write-once key.
//! Whatever is left pending is run by the next [`Engine::reconcile`] pass.
//!
//! Cuts (scheduled and ad hoc, supersession, what each component runs before) are in
//! `service/cut.rs`; making up for firings that were never delivered in
//! `service/catchup.rs`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tracing::{debug, info, warn};
pub use train_core::ScheduleCommand;
use train_core::train::ComponentRun;
use train_core::{
    Actor, AlarmName, BuildId, BuildRequest, ComponentName, Config, Effect, Event, Metric, Pending,
    Reason, Rejection, RejectionKind, ScheduleControls, Stage, State, Train, TrainId, Transition,
};

use crate::ports::{Inserted, ListQuery, Observed, PortError, Ports, Saved, Stored};

mod catchup;
mod cut;

pub use catchup::CaughtUp;

/// The newest version of one train this call has read or committed. A pass decides and
/// writes against it instead of reading the whole train again for each step (three 1 MB
/// pages at 1,000 components); a stale one loses its conditional write and is read again,
/// as any conflict is.
type Latest = Option<Stored>;

/// How many times a decision is re-made after losing a conditional write before giving up
/// (the caller retries later; nothing was committed).
const MAX_CONFLICTS: usize = 16;

/// How many of the newest trains a cut reads for the commits production runs.
const RECENT_TRAINS: usize = 10;

/// How long a just-committed cut belongs to the delivery that made it: a repeat within
/// this window does not run its effects.
const FRESH_SECONDS: i64 = 120;

/// Effects performed concurrently within one round: enough to start a thousand builds in
/// seconds, few enough that a builder's rate limits (with the SDK's backoff) hold.
const EFFECTS_AT_ONCE: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("train {0} is changing too fast to commit; try again")]
    Contention(TrainId),
    #[error("the schedule controls are changing too fast to commit; try again")]
    ScheduleContention,
}

impl EngineError {
    pub fn is_retryable(&self) -> bool {
        match self {
            EngineError::Port(e) => e.retryable,
            EngineError::Contention(_) | EngineError::ScheduleContention => true,
        }
    }
}

/// The result of applying an event to a stored train.
#[allow(clippy::large_enum_variant)] // one per call, moved once: boxing buys nothing
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The train after the event (unchanged when the event was a repeat).
    Done(Train),
    Rejected(Rejection),
    NotFound,
}

/// The result of a cut firing.
#[allow(clippy::large_enum_variant)] // one per call, moved once: boxing buys nothing
#[derive(Debug, Clone, PartialEq)]
pub enum Cut {
    Created(Train),
    /// Another delivery of the same firing already cut it.
    AlreadyCut(Train),
}

/// What one reconcile pass did, and what it saw at the end of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconciled {
    pub trains: usize,
    pub builds_finished: usize,
    pub effects_run: usize,
    pub effects_failed: usize,
    /// Builds still requested or running (local mode polls while there are any).
    pub builds_in_flight: usize,
    /// The earliest time a train needs a pass without any outside event.
    pub next_due: Option<DateTime<Utc>>,
    /// How long each unsettled train has been in its state, for the stuck-train alarms:
    /// emitted by [`Engine::gauge`] at the caller's pace (every 5 minutes on AWS), not on
    /// every pass.
    pub in_state: Vec<(TrainId, Metric)>,
}

#[derive(Debug, Clone)]
pub struct Engine {
    ports: Ports,
    config: Arc<Config>,
}

impl Engine {
    pub fn new(ports: Ports, config: Arc<Config>) -> Self {
        Self { ports, config }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// Handles one delivery of the promote firing at `scheduled`, for every train cut
    /// before it that is still on its way.
    pub async fn promotion_due(
        &self,
        scheduled: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Train>, EngineError> {
        let (controls, _) = self.ports.store.controls(&self.config.train.name).await?;
        if let Some(p) = &controls.paused {
            info!(%scheduled, by = %p.by, reason = %p.reason, "schedule paused: promote firing ignored");
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for id in self.ports.store.unsettled().await? {
            let Some(stored) = self.ports.store.load(&id).await? else {
                continue;
            };
            if stored.train.is_terminal() || stored.train.cut_at > scheduled {
                continue;
            }
            // The alarms as they are at the moment the promotion could start. When they
            // changed nothing, the promotion decides on the train just read.
            let changed = self.sync_alarms(&id, &stored.train, now).await?;
            let mut latest = Some(stored).filter(|_| !changed);
            let (applied, effects) = self
                .commit_decision(&id, &mut latest, Cached::Trust, |t| {
                    t.on(&Event::PromotionDue { scheduled }, now)
                })
                .await?;
            self.settle_latest(&id, effects, now, &mut latest).await;
            if let Applied::Done(train) = applied {
                out.push(train);
            }
        }
        Ok(out)
    }

    /// Applies `event` to train `id`: decide, commit, then run the effects.
    pub async fn apply(
        &self,
        id: &TrainId,
        event: &Event,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        self.apply_latest(&mut None, id, event, now).await
    }

    /// [`Engine::apply`] on the train this call last read or committed, if any (`latest`,
    /// which it then updates).
    async fn apply_latest(
        &self,
        latest: &mut Latest,
        id: &TrainId,
        event: &Event,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        let (applied, effects) = self
            .commit_decision(id, latest, Cached::Trust, |train| train.on(event, now))
            .await?;
        self.settle_latest(id, effects, now, latest).await;
        Ok(applied)
    }

    /// Rolls a released train back to what the previous release of its name shipped.
    pub async fn rollback(
        &self,
        id: &TrainId,
        by: Actor,
        reason: Reason,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        let Some(train) = self.train(id).await? else {
            return Ok(Applied::NotFound);
        };
        if train.state() != State::Released {
            // The core says why a rollback does not apply (still promoting, already over).
            let event = Event::Rollback {
                by,
                reason,
                to: id.clone(),
                pins: std::collections::BTreeMap::new(),
            };
            return self.apply(id, &event, now).await;
        }
        let query = ListQuery {
            name: Some(train.name.clone()),
            state: Some(State::Released),
            limit: 100,
        };
        let released = self.ports.store.list(&query).await?;
        let Some(previous) = train.rollback_target(&released) else {
            return Ok(Applied::Rejected(Rejection {
                kind: RejectionKind::NotNow,
                message: format!(
                    "there is no release of {} before {id} to roll back to",
                    train.name
                ),
            }));
        };
        let event = Event::Rollback {
            by,
            reason,
            to: previous.id.clone(),
            pins: previous.shipped(),
        };
        self.apply(id, &event, now).await
    }

    /// This deployment's schedule controls.
    pub async fn schedule_controls(&self) -> Result<ScheduleControls, EngineError> {
        Ok(self.ports.store.controls(&self.config.train.name).await?.0)
    }

    /// Pauses or resumes the schedule, or skips the next cut, with a conditional write.
    pub async fn command_schedule(
        &self,
        command: ScheduleCommand,
        by: &Actor,
        reason: &Reason,
        now: DateTime<Utc>,
    ) -> Result<Result<ScheduleControls, Rejection>, EngineError> {
        let name = &self.config.train.name;
        for _ in 0..MAX_CONFLICTS {
            let (controls, version) = self.ports.store.controls(name).await?;
            let next = match command {
                ScheduleCommand::Pause => controls.pause(by, reason, now),
                ScheduleCommand::Resume => controls.resume(by, reason, now),
                ScheduleCommand::SkipNext => {
                    let firing = self.config.train.cut.next_after(now);
                    controls.skip_next(by, reason, firing, now)
                }
            };
            let next = match next {
                Ok(n) => n,
                Err(r) => return Ok(Err(r)),
            };
            if let Saved::Committed(_) = self.ports.store.set_controls(name, &next, version).await?
            {
                info!(command = ?command, by = %by, reason = %reason, "schedule command");
                return Ok(Ok(next));
            }
        }
        Err(EngineError::ScheduleContention)
    }

    pub async fn train(&self, id: &TrainId) -> Result<Option<Train>, EngineError> {
        Ok(self.ports.store.load(id).await?.map(|s| s.train))
    }

    /// One component of a train as last committed, read without the rest of the train
    /// where the store can.
    pub async fn component(
        &self,
        id: &TrainId,
        name: &ComponentName,
    ) -> Result<Option<ComponentRun>, EngineError> {
        Ok(self.ports.store.component(id, name).await?)
    }

    /// Trains of this deployment's train name unless the query names another.
    pub async fn list(&self, query: &ListQuery) -> Result<Vec<Train>, EngineError> {
        let mut query = query.clone();
        query
            .name
            .get_or_insert_with(|| self.config.train.name.clone());
        Ok(self.ports.store.list(&query).await?)
    }

    /// Lets `decide` make its transition on the train (`latest` when this call has it,
    /// otherwise read), and commits it on the condition that nobody else committed
    /// meanwhile; otherwise reads again and decides again. `latest` is then the train as
    /// committed.
    ///
    /// A change decided on `latest` is safe: the conditional write catches a stale one.
    /// "Nothing to do" and a rejection are not writes, so nothing catches them; `cached`
    /// says what they are worth when decided on a train this call did not just read.
    async fn commit_decision(
        &self,
        id: &TrainId,
        latest: &mut Latest,
        cached: Cached,
        decide: impl Fn(&Train) -> Result<Transition, Rejection>,
    ) -> Result<(Applied, Vec<Pending>), EngineError> {
        for _ in 0..MAX_CONFLICTS {
            let (before, read) = match latest.take() {
                Some(known) => (known, false),
                None => match self.ports.store.load(id).await? {
                    Some(stored) => (stored, true),
                    None => return Ok((Applied::NotFound, Vec::new())),
                },
            };
            let transition = match decide(&before.train) {
                Ok(t) => t,
                Err(_) if !read && cached == Cached::ReadAgain => continue,
                Err(rejection) => {
                    *latest = Some(before);
                    return Ok((Applied::Rejected(rejection), Vec::new()));
                }
            };
            if !transition.changed(&before.train) {
                if !read && cached == Cached::ReadAgain {
                    continue;
                }
                let train = before.train.clone();
                *latest = Some(before);
                return Ok((Applied::Done(train), Vec::new()));
            }
            match self.ports.store.commit(&before, &transition).await? {
                Saved::Committed(version) => {
                    log_transition(&before.train, &transition);
                    *latest = Some(Stored {
                        train: transition.train.clone(),
                        version,
                    });
                    return Ok((Applied::Done(transition.train), transition.effects));
                }
                Saved::Conflict => debug!(train = %id, "lost a conditional write; deciding again"),
            }
        }
        Err(EngineError::Contention(id.clone()))
    }

    /// Runs effects in rounds: each round performs its effects in order, then records what
    /// they reported (a build's id) in one transition, whose own effects form the next
    /// round. One commit per round, not per effect: a cut of a thousand components reads
    /// and writes the train once to record its thousand builds. An effect that fails, or
    /// whose result could not be recorded, stays pending for the next pass.
    async fn settle(
        &self,
        id: &TrainId,
        effects: Vec<Pending>,
        now: DateTime<Utc>,
    ) -> (usize, usize) {
        self.settle_latest(id, effects, now, &mut None).await
    }

    /// [`Engine::settle`] with the train this call last read or committed (`latest`): a
    /// manifest is written from it, and the results are recorded on it.
    async fn settle_latest(
        &self,
        id: &TrainId,
        effects: Vec<Pending>,
        now: DateTime<Utc>,
        latest: &mut Latest,
    ) -> (usize, usize) {
        let (mut ran, mut failed) = (0, 0);
        let mut round = effects;
        while !round.is_empty() {
            let mut reported = Vec::new();
            let mut awaiting_record = Vec::new();
            let mut done = Vec::new();
            let starts: Vec<&BuildRequest> = round
                .iter()
                .filter_map(|p| match &p.effect {
                    Effect::StartBuild(request) => Some(request),
                    _ => None,
                })
                .collect();
            if !starts.is_empty()
                && let Err(e) = self.ports.builder.claim_starts(&starts).await
            {
                warn!(train = %id, builds = starts.len(), error = %e, "could not claim the round's builds together; each start claims its own");
            }
            // Up to EFFECTS_AT_ONCE at a time; results come back in effect order, so the
            // transition that records them is the same however the calls interleave.
            let known = latest.as_ref().map(|s| &s.train);
            let results: Vec<_> = futures::stream::iter(round.drain(..))
                .map(|pending| async move {
                    let result = self.perform(id, &pending.effect, now, known).await;
                    (pending, result)
                })
                .buffered(EFFECTS_AT_ONCE)
                .collect()
                .await;
            for (pending, result) in results {
                match result {
                    Ok(Some(event)) => {
                        reported.push(event);
                        awaiting_record.push(pending.id);
                    }
                    Ok(None) => done.push(pending.id),
                    Err(e) => {
                        warn!(train = %id, effect = pending.id, error = %e, retryable = e.retryable, "effect failed; left pending");
                        failed += 1;
                    }
                }
            }
            if !reported.is_empty() {
                match self.record_all(id, &reported, now, latest).await {
                    Ok(more) => {
                        done.append(&mut awaiting_record);
                        round = more;
                    }
                    Err(e) => {
                        warn!(train = %id, error = %e, "could not record what effects reported; they will run again");
                        failed += awaiting_record.len();
                    }
                }
            }
            ran += done.len();
            if let Err(e) = self.ports.store.mark_done(id, &done).await {
                warn!(train = %id, effects = done.len(), error = %e, "could not mark effects done; they will run again");
            }
        }
        (ran, failed)
    }

    /// Applies machine-reported events in one transition. An event that does not apply
    /// (a stale report) is skipped, as a repeat would be.
    async fn record_all(
        &self,
        id: &TrainId,
        events: &[Event],
        now: DateTime<Utc>,
        latest: &mut Latest,
    ) -> Result<Vec<Pending>, EngineError> {
        let fold = |train: &Train| {
            let mut transition = Transition {
                train: train.clone(),
                effects: Vec::new(),
            };
            for event in events {
                match transition.train.on(event, now) {
                    Ok(next) => {
                        transition.effects.extend(next.effects);
                        transition.train = next.train;
                    }
                    Err(r) => debug!(train = %id, reason = %r, "reported event does not apply"),
                }
            }
            Ok(transition)
        };
        // What a build reported is a fact: one that seems not to apply on a cached train
        // (another invocation committed the request it answers) is decided again on the
        // train as stored, or its effect would be marked done and the build never recorded.
        Ok(self
            .commit_decision(id, latest, Cached::ReadAgain, fold)
            .await?
            .1)
    }

    async fn perform(
        &self,
        id: &TrainId,
        effect: &Effect,
        now: DateTime<Utc>,
        known: Option<&Train>,
    ) -> Result<Option<Event>, PortError> {
        match effect {
            Effect::StartBuild(request) => {
                let started = self.ports.builder.start(request).await?;
                info!(train = %request.train, component = %request.component, stage = %request.stage, build = %started.build_id, "build started");
                Ok(Some(Event::BuildStarted {
                    component: request.component.clone(),
                    stage: request.stage,
                    attempt: request.attempt,
                    build_id: started.build_id,
                    commit: started.commit,
                    link: started.link,
                }))
            }
            Effect::StopBuild { build_id, .. } => {
                self.ports.builder.stop(build_id).await.map(|()| None)
            }
            Effect::Publish(announcement) => {
                self.ports.events.publish(announcement).await.map(|()| None)
            }
            Effect::WriteManifest { state } => {
                // The train as this call committed it, or as stored now.
                let loaded;
                let train = match known {
                    Some(train) => train,
                    None => match self.ports.store.load(id).await? {
                        Some(stored) => {
                            loaded = stored.train;
                            &loaded
                        }
                        None => {
                            return Err(PortError::fatal(format!(
                                "manifest for {id}: the train is gone"
                            )));
                        }
                    },
                };
                let manifest =
                    serde_json::json!({ "state": state, "written_at": now, "train": train });
                let body = serde_json::to_vec_pretty(&manifest)
                    .map_err(|e| PortError::fatal(format!("manifest: {e}")))?;
                self.ports
                    .manifests
                    .put(id, *state, &body)
                    .await
                    .map(|_| None)
            }
            Effect::ReadChangelog {
                component,
                source,
                from,
                to,
                build,
            } => {
                let changelog = self
                    .ports
                    .builder
                    .changelog(component, source, from.as_ref(), to, build.as_ref())
                    .await?;
                Ok(Some(Event::ChangelogReady {
                    component: component.clone(),
                    changelog,
                }))
            }
            Effect::EmitMetric(metric) => self
                .ports
                .metrics
                .emit(id, metric, now)
                .await
                .map(|()| None),
        }
    }

    /// One pass over every train that may still change: run leftover effects, collect
    /// finished builds, and let timers (the soak) fire. A lost build event or a crash
    /// between steps delays a train by one pass; it never wedges it.
    pub async fn reconcile(&self, now: DateTime<Utc>) -> Result<Reconciled, EngineError> {
        let mut report = Reconciled::default();
        for id in self.ports.store.unsettled().await? {
            let seen = self.reconcile_one(&id, now, Listed::Unsettled).await?;
            report.trains += seen.trains;
            report.builds_finished += seen.builds_finished;
            report.effects_run += seen.effects_run;
            report.effects_failed += seen.effects_failed;
            report.builds_in_flight += seen.builds_in_flight;
            report.in_state.extend(seen.in_state);
            report.next_due = match (report.next_due, seen.next_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(report)
    }

    /// Emits the time-in-state gauges a reconcile pass collected.
    pub async fn gauge(&self, seen: &Reconciled, now: DateTime<Utc>) -> Result<(), EngineError> {
        for (id, metric) in &seen.in_state {
            self.ports.metrics.emit(id, metric, now).await?;
        }
        Ok(())
    }

    /// The next promote firing `train` should give a heads-up for, and when
    /// (`notify_before` ahead of it); none without `notify_before`, or when the train would
    /// not promote at that firing anyway.
    fn heads_up(
        &self,
        train: &Train,
        now: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let settings = &self.config().train;
        let before = settings.notify_before?;
        let firing = settings.promote.next_after(now)?;
        train
            .wants_heads_up(firing)
            .then(|| (firing, firing - before.duration()))
    }

    /// The same pass for one train: what a build state change event triggers. The builder,
    /// not the event, says how a build ended, so a stale or repeated event changes nothing.
    pub async fn reconcile_train(
        &self,
        id: &TrainId,
        now: DateTime<Utc>,
    ) -> Result<Reconciled, EngineError> {
        self.reconcile_one(id, now, Listed::Named).await
    }

    async fn reconcile_one(
        &self,
        id: &TrainId,
        now: DateTime<Utc>,
        listed: Listed,
    ) -> Result<Reconciled, EngineError> {
        let mut report = Reconciled::default();
        let mut latest = None;
        let (ran, failed) = self
            .settle_latest(id, self.ports.store.pending(id).await?, now, &mut latest)
            .await;
        report.effects_run += ran;
        report.effects_failed += failed;
        let stored = match latest.take() {
            Some(stored) => stored,
            None => match self.ports.store.load(id).await? {
                Some(stored) => stored,
                None => return Ok(report),
            },
        };
        report.trains = 1;
        let settled_before = stored.train.is_settled();
        let heads_up = self.heads_up(&stored.train, now);
        // Alarms first: a finished build below may be what lets the train promote, and the
        // promotion must see the alarms as they are now.
        let alarms_changed = self.sync_alarms(id, &stored.train, now).await?;
        let running: Vec<BuildId> = [Stage::Staging, Stage::Production]
            .into_iter()
            .flat_map(|stage| stored.train.active_builds(stage))
            .filter_map(|(_, b)| b.build_id.clone())
            .collect();
        let mut finished = Vec::new();
        if !running.is_empty() {
            for (build_id, observed) in self.ports.builder.poll(&running).await? {
                let Observed::Finished(outcome) = observed else {
                    continue;
                };
                let Some((component, stage, build)) = stored.train.find_build(&build_id) else {
                    continue;
                };
                finished.push(Event::BuildFinished {
                    component: component.clone(),
                    stage,
                    attempt: build.attempt,
                    build_id,
                    outcome,
                });
            }
        }
        // From here on, the train as this pass read it, unless the alarms changed it.
        let mut latest = Some(stored).filter(|_| !alarms_changed);
        // Every result of this pass in one transition: a thousand builds ending between
        // two passes are one commit, not a thousand.
        if !finished.is_empty() {
            let pending = self.record_all(id, &finished, now, &mut latest).await?;
            self.settle_latest(id, pending, now, &mut latest).await;
            report.builds_finished += finished.len();
        }
        // The heads-up before a promote firing, once per firing (`notify_before`).
        if let Some((firing, at)) = heads_up
            && at <= now
        {
            self.apply_latest(&mut latest, id, &Event::PromotionSoon { firing }, now)
                .await?;
        }
        if let Applied::Done(train) = self
            .apply_latest(&mut latest, id, &Event::Tick, now)
            .await?
        {
            report.builds_in_flight += train.active_builds(Stage::Staging).count()
                + train.active_builds(Stage::Production).count();
            // A heads-up still to come is a time this train needs a pass at, too.
            let heads_up_at = self
                .heads_up(&train, now)
                .map(|(_, at)| at)
                .filter(|at| *at > now);
            report.next_due = [train.next_due(), heads_up_at].into_iter().flatten().min();
            report
                .in_state
                .extend(train.time_in_state(now).map(|m| (id.clone(), m)));
            // A train settled before this pass and untouched by it was closed when it
            // settled, or is still listed and closed by the schedule's pass: the events
            // that keep arriving for a released train's builds write nothing.
            let touched = !settled_before || report.effects_run > 0 || report.builds_finished > 0;
            if train.is_settled() && (touched || listed == Listed::Unsettled) {
                self.close_if_done(id, latest).await?;
            }
        }
        Ok(report)
    }

    /// Reads the alarms that gate a train now (`Train::watched_alarms`: before promotion,
    /// and between waves) and applies what changed. A failed read is an error: no promotion on alarms nobody could read.
    async fn sync_alarms(
        &self,
        id: &TrainId,
        train: &Train,
        now: DateTime<Utc>,
    ) -> Result<bool, EngineError> {
        let names = train.watched_alarms();
        if names.is_empty() {
            return Ok(false);
        }
        let mut changed = false;
        let states = self.ports.alarms.states(&names).await?;
        for name in &names {
            let blocked = train.alarms_firing.contains(name);
            if states.missing.contains(name) {
                // Reported on every pass until someone fixes the name or creates the alarm.
                warn!(train = %id, alarm = %name, "gating alarm not found: promotion is blocked as alarm:{name} (not found)");
                if !blocked {
                    let event = Event::AlarmMissing {
                        alarm: name.clone(),
                    };
                    self.apply(id, &event, now).await?;
                    changed = true;
                }
                continue;
            }
            let is_firing = states.firing.contains(name);
            if is_firing != blocked {
                let event = Event::AlarmChanged {
                    alarm: name.clone(),
                    firing: is_firing,
                };
                self.apply(id, &event, now).await?;
                changed = true;
            }
        }
        Ok(changed)
    }

    /// An alarm state change (the events function): every train still on its way hears it.
    pub async fn alarm_changed(
        &self,
        alarm: &AlarmName,
        firing: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<Train>, EngineError> {
        let mut changed = Vec::new();
        for id in self.ports.store.unsettled().await? {
            let event = Event::AlarmChanged {
                alarm: alarm.clone(),
                firing,
            };
            if let Applied::Done(train) = self.apply(&id, &event, now).await? {
                changed.push(train);
            }
        }
        Ok(changed)
    }

    /// Stops listing a settled train whose outbox is empty among the unsettled ones
    /// (`latest`: the train as this call last saw it; a stale one only fails to close).
    async fn close_if_done(&self, id: &TrainId, latest: Latest) -> Result<(), EngineError> {
        let store = &self.ports.store;
        let latest = match latest {
            Some(stored) => Some(stored),
            None => store.load(id).await?,
        };
        if let Some(Stored { train, version }) = latest
            && train.is_settled()
            && store.pending(id).await?.is_empty()
        {
            store.close(id, version).await?;
        }
        Ok(())
    }
}

fn log_transition(before: &Train, after: &Transition) {
    let (from, to) = (before.state(), after.train.state());
    if from != to {
        let why = after
            .train
            .history
            .last()
            .and_then(|r| r.reason.as_deref())
            .unwrap_or("");
        info!(train = %after.train.id, %from, %to, reason = why, "state changed");
    }
}

/// What "nothing to do" or a rejection decided on the train a call last read or committed
/// is worth, when that train may be stale (another invocation may have committed since).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cached {
    /// The answer stands: a timer or a firing that finds nothing to do on a stale train is
    /// decided again by the next pass.
    Trust,
    /// Decide again on the train as stored: the event reports something that happened.
    ReadAgain,
}

/// How a reconcile pass came to a train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listed {
    /// Among the unsettled trains: the schedule's pass, which must close it once settled.
    Unsettled,
    /// Named by a build event: possibly settled and closed long ago.
    Named,
}
