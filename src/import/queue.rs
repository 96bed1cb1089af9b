//! The import queue of one instance: claiming jobs (and running jobs whose
//! instance went quiet), keeping a running job's heartbeat, and handing jobs
//! back at shutdown. What is done with a claimed job is `worker`'s.
//!
//! - **Claim.** One statement moves a job to RUNNING under this instance's
//!   id; on PostgreSQL the candidate row is picked `FOR UPDATE SKIP LOCKED`,
//!   so instances sharing a database never claim the same job. Workers wake
//!   when a job is queued anywhere (the event bus, relayed between instances
//!   on PostgreSQL) and poll besides, for jobs gone stale.
//! - **Heartbeat.** While a job runs its instance refreshes `heartbeat_at`
//!   every quarter of [`ImportSettings::stale_after`]; a job not refreshed
//!   for that long is claimed again. The heartbeat also notices
//!   cancellation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use entity::import_job;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, Statement,
    Value,
};
use tokio::sync::{broadcast::error::RecvError, watch, Notify, Semaphore};
use uuid::Uuid;

use crate::config::ImportSettings;
use crate::error::AppResult;
use crate::events::{Event, ImportStatus};
use crate::import::jobs::announce;
use crate::import::worker::run;
use crate::service::Services;
use entity::enums::ImportJobStatus;

/// The import workers of this instance; dropping it leaves them running.
pub struct Workers {
    id: Uuid,
    stop: watch::Sender<bool>,
    svc: Services,
}

impl Workers {
    /// Starts the workers (none when `settings.jobs` is 0).
    pub fn start(svc: Services, settings: ImportSettings) -> Option<Workers> {
        if settings.jobs == 0 {
            return None;
        }
        let id = Uuid::new_v4();
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(dispatch(svc.clone(), settings, id, stopped));
        Some(Workers { id, stop, svc })
    }

    /// Stops claiming jobs and hands this instance's running jobs back to
    /// the queue, for another instance (or the next start) to go on with.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let requeued = import_job::Entity::update_many()
            .col_expr(import_job::Column::Status, ImportJobStatus::Queued.into())
            .col_expr(import_job::Column::Worker, Option::<Uuid>::None.into())
            .col_expr(import_job::Column::UpdatedAt, Utc::now().into())
            .filter(import_job::Column::Worker.eq(self.id))
            .filter(import_job::Column::Status.eq(ImportJobStatus::Running))
            .exec_with_returning(&self.svc.db)
            .await;
        match requeued {
            Ok(jobs) if !jobs.is_empty() => {
                tracing::info!(jobs = jobs.len(), "import jobs handed back to the queue");
                // Their subscribers, and the other instances' workers, hear of it.
                for job in &jobs {
                    announce(&self.svc, job);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot hand import jobs back to the queue"),
        }
    }
}

/// Claims jobs while slots are free, then waits for a reason to look again.
async fn dispatch(
    svc: Services,
    settings: ImportSettings,
    worker: Uuid,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(settings.jobs));
    let finished = Arc::new(Notify::new());
    let mut events = svc.events.listen();
    let poll = (settings.stale_after / 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        while let Ok(permit) = slots.clone().try_acquire_owned() {
            match claim(&svc, worker, settings.stale_after).await {
                Ok(Some(job)) => {
                    let (svc, finished) = (svc.clone(), finished.clone());
                    tokio::spawn(async move {
                        run(&svc, settings, worker, job).await;
                        drop(permit);
                        finished.notify_one();
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = ?e, "cannot claim import jobs");
                    break;
                }
            }
        }
        // Wait for a queued job, a free slot, a poll, or the stop.
        let deadline = tokio::time::sleep(poll);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                // Only a stop sent counts (a dropped handle stops nothing).
                Ok(()) = stop.changed() => return,
                _ = &mut deadline => break,
                _ = finished.notified() => break,
                event = events.recv() => match event {
                    Ok(Event::ImportProgress { counts, .. }) if counts.status == ImportStatus::Queued => break,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }
}

/// Makes the oldest claimable job this instance's: a queued one, or a
/// running one whose instance has not reported within `stale_after`.
pub async fn claim(
    svc: &Services,
    worker: Uuid,
    stale_after: Duration,
) -> AppResult<Option<import_job::Model>> {
    let backend = svc.db.get_database_backend();
    let now = Utc::now();
    let cutoff = now - chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
    let (p, lock): (fn(usize) -> String, &str) = match backend {
        DbBackend::Postgres => (|i| format!("${i}"), " FOR UPDATE SKIP LOCKED"),
        _ => (|_| "?".to_owned(), ""),
    };
    let sql = format!(
        "UPDATE import_jobs SET status = 'RUNNING', worker = {}, heartbeat_at = {}, \
         started_at = COALESCE(started_at, {}), updated_at = {} \
         WHERE id = (SELECT id FROM import_jobs \
         WHERE status = 'QUEUED' OR (status = 'RUNNING' AND heartbeat_at < {}) \
         ORDER BY id LIMIT 1{lock}) RETURNING *",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5)
    );
    let values: Vec<Value> = vec![
        worker.into(),
        now.into(),
        now.into(),
        now.into(),
        cutoff.into(),
    ];
    let row = svc
        .db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let job = row
        .map(|row| import_job::Model::from_query_result(&row, ""))
        .transpose()?;
    if let Some(job) = &job {
        tracing::info!(job = %job.id, "import job claimed");
    }
    Ok(job)
}

/// Keeps the job's heartbeat fresh; flags the run cancelled when the job is
/// no longer this instance's running job.
pub(crate) async fn heartbeat(
    svc: Services,
    job_id: Uuid,
    worker: Uuid,
    every: Duration,
    cancelled: Arc<AtomicBool>,
) {
    let mut events = svc.events.listen();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let beat = import_job::Entity::update_many()
                    .col_expr(import_job::Column::HeartbeatAt, Utc::now().into())
                    .filter(import_job::Column::Id.eq(job_id))
                    .filter(import_job::Column::Worker.eq(worker))
                    .filter(import_job::Column::Status.eq(ImportJobStatus::Running))
                    .exec(&svc.db)
                    .await;
                match beat {
                    Ok(r) if r.rows_affected == 0 => {
                        cancelled.store(true, Ordering::Release);
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(job = %job_id, error = %e, "import heartbeat failed"),
                }
            }
            event = events.recv() => match event {
                Ok(Event::ImportProgress { job_id: id, counts, .. })
                    if id == job_id && counts.status == ImportStatus::Cancelled =>
                {
                    cancelled.store(true, Ordering::Release);
                    return;
                }
                Err(RecvError::Closed) => return,
                _ => {}
            },
        }
    }
}
