//! Loaders whose batches are cut by the shape of the query, not by a clock.
//!
//! A loader collects the keys its callers ask for. The batches run when the
//! operation cannot go on without them: when every field still resolving
//! waits for a key or for the database, and no batch of the same request is
//! still on its way. At that moment every field of one level of the query
//! has asked for its keys, whatever the size of its lists and however the
//! runtime polled them, so the statements an operation sends are fixed by
//! its shape and data on every run.
//!
//! The operation's future runs inside [`Batcher::drive`] (the execution of
//! a query or mutation, each event of a subscription). Keys asked for
//! outside of it are batched after [`UNDRIVEN_WINDOW`].

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::Stream;
use tokio::sync::oneshot;

use crate::error::{AppError, AppResult};

/// How long keys asked for outside a driven operation wait for others.
pub const UNDRIVEN_WINDOW: Duration = Duration::from_millis(2);

/// The most keys one call of a batch function gets (a statement binds each
/// key; databases limit how many parameters a statement takes).
pub const MAX_BATCH: usize = 10_000;

/// A batch function: the values of the keys that have one.
pub trait BatchLoad: Send + Sync + 'static {
    type Key: Send + Sync + Hash + Eq + Clone + 'static;
    type Value: Send + Sync + Clone + 'static;

    fn load(
        &self,
        keys: Vec<Self::Key>,
    ) -> BoxFuture<'static, AppResult<HashMap<Self::Key, Self::Value>>>;
}

type Reply<V> = oneshot::Sender<AppResult<Option<V>>>;

/// The keys waiting for the next batch, each with whoever asked for it.
type Waiting<K, V> = HashMap<K, Vec<Reply<V>>>;

/// A loader with its waiting keys; one per relation per request.
pub struct DataLoader<L: BatchLoad> {
    inner: Arc<Inner<L>>,
}

struct Inner<L: BatchLoad> {
    load: Arc<L>,
    batcher: Arc<Batcher>,
    waiting: Mutex<Waiting<L::Key, L::Value>>,
}

/// Something with keys waiting for a batch.
trait Dispatch: Send + Sync {
    /// Starts the batch of every key waiting now.
    fn dispatch(self: Arc<Self>);
}

impl<L: BatchLoad> DataLoader<L> {
    pub fn new(load: L, batcher: &Arc<Batcher>) -> Self {
        DataLoader {
            inner: Arc::new(Inner {
                load: Arc::new(load),
                batcher: batcher.clone(),
                waiting: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn ask(&self, key: L::Key) -> oneshot::Receiver<AppResult<Option<L::Value>>> {
        let (tx, rx) = oneshot::channel();
        let first = {
            let mut waiting = lock(&self.inner.waiting);
            let first = waiting.is_empty();
            waiting.entry(key).or_default().push(tx);
            first
        };
        if first {
            self.inner.batcher.enqueue(self.inner.clone());
        }
        rx
    }

    /// The value of `key`, if it has one.
    pub async fn load_one(&self, key: L::Key) -> AppResult<Option<L::Value>> {
        answer(self.ask(key).await)
    }

    /// The values of those of `keys` that have one.
    pub async fn load_many(
        &self,
        keys: impl IntoIterator<Item = L::Key>,
    ) -> AppResult<HashMap<L::Key, L::Value>> {
        let asked: Vec<_> = keys
            .into_iter()
            .map(|key| (key.clone(), self.ask(key)))
            .collect();
        let mut out = HashMap::with_capacity(asked.len());
        for (key, rx) in asked {
            if let Some(value) = answer(rx.await)? {
                out.insert(key, value);
            }
        }
        Ok(out)
    }
}

fn answer<V>(
    reply: Result<AppResult<Option<V>>, oneshot::error::RecvError>,
) -> AppResult<Option<V>> {
    reply.unwrap_or_else(|_| Err(AppError::internal("a loader's batch was dropped")))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<L: BatchLoad> Dispatch for Inner<L> {
    fn dispatch(self: Arc<Self>) {
        let waiting = std::mem::take(&mut *lock(&self.waiting));
        if waiting.is_empty() {
            return;
        }
        let batcher = self.batcher.clone();
        batcher.in_flight.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let keys: Vec<L::Key> = waiting.keys().cloned().collect();
            let mut values = HashMap::with_capacity(keys.len());
            let mut failed = None;
            for chunk in keys.chunks(MAX_BATCH) {
                match self.load.load(chunk.to_vec()).await {
                    Ok(found) => values.extend(found),
                    Err(err) => {
                        failed = Some(err);
                        break;
                    }
                }
            }
            for (key, replies) in waiting {
                let value = match &failed {
                    Some(err) => Err(err.clone()),
                    None => Ok(values.get(&key).cloned()),
                };
                for reply in replies {
                    let _ = reply.send(value.clone());
                }
            }
            // Done only once every answer is out: the operation, polled
            // while they go out, must not start the next batches with the
            // keys of the fields answered so far.
            batcher.in_flight.fetch_sub(1, Ordering::SeqCst);
            batcher.wake_driver();
        });
    }
}

/// The loaders of one request with keys waiting, and the batches on their
/// way.
#[derive(Default)]
pub struct Batcher {
    queue: Mutex<Vec<Arc<dyn Dispatch>>>,
    in_flight: AtomicUsize,
    /// Set while an operation's future runs inside [`Batcher::drive`].
    driven: AtomicBool,
    /// Wakes the driven operation when a batch is done.
    driver: Mutex<Option<Waker>>,
    /// A timer is on its way for keys asked for outside a driven operation.
    timer: AtomicBool,
}

impl Batcher {
    pub fn new() -> Arc<Batcher> {
        Arc::new(Batcher::default())
    }

    fn enqueue(self: &Arc<Self>, loader: Arc<dyn Dispatch>) {
        lock(&self.queue).push(loader);
        if self.driven.load(Ordering::SeqCst) {
            // Asked for from a task of its own, the operation may not be
            // polled again before the keys go out.
            self.wake_driver();
        } else if !self.timer.swap(true, Ordering::SeqCst) {
            let batcher = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(UNDRIVEN_WINDOW).await;
                batcher.timer.store(false, Ordering::SeqCst);
                batcher.dispatch_all();
            });
        }
    }

    /// Starts every batch with keys waiting; false when there was none.
    fn dispatch_all(&self) -> bool {
        let queue = std::mem::take(&mut *lock(&self.queue));
        let any = !queue.is_empty();
        for loader in queue {
            loader.dispatch();
        }
        any
    }

    fn wake_driver(&self) {
        if let Some(waker) = lock(&self.driver).take() {
            waker.wake();
        }
    }

    /// One step of the driven operation: polls it, and when it cannot go on
    /// (nothing woke it while it ran) and no batch is on its way, starts
    /// the batches of the keys it waits for.
    fn step<T>(
        &self,
        cx: &mut Context<'_>,
        flag: &Arc<Flag>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        *lock(&self.driver) = Some(cx.waker().clone());
        {
            let mut waker = lock(&flag.waker);
            if !waker.will_wake(cx.waker()) {
                *waker = cx.waker().clone();
            }
        }
        flag.woken.store(false, Ordering::SeqCst);
        let waker = Waker::from(flag.clone());
        // Outside tokio's cooperative budget: a resource out of budget
        // answers "pending" and wakes its task only after this poll ends, so
        // the operation would look stuck while it is not. (Its lists still
        // yield, waking it at once.)
        let mut poll = Some(poll);
        let once = std::pin::pin!(tokio::task::unconstrained(std::future::poll_fn(
            move |cx| match poll.take() {
                Some(poll) => poll(cx),
                None => Poll::Pending,
            }
        )));
        if let Poll::Ready(out) = once.poll(&mut Context::from_waker(&waker)) {
            return Poll::Ready(out);
        }
        // A part of the operation woke while it ran (a list polled over
        // several turns, a field that yielded, one that another field of
        // the same object let go on): it goes on before any batch starts.
        if !flag.woken.load(Ordering::SeqCst) && self.in_flight.load(Ordering::SeqCst) == 0 {
            self.dispatch_all();
        }
        Poll::Pending
    }

    /// Runs `future` with its batches started when it cannot go on without
    /// them.
    pub fn drive<F: Future>(self: &Arc<Self>, future: F) -> Driven<F> {
        self.driving(future)
    }

    /// Runs `stream` like [`Batcher::drive`], each item as a future.
    pub fn drive_stream<S: Stream>(self: &Arc<Self>, stream: S) -> Driven<S> {
        self.driving(stream)
    }

    fn driving<F>(self: &Arc<Self>, future: F) -> Driven<F> {
        self.driven.store(true, Ordering::SeqCst);
        Driven {
            batcher: self.clone(),
            inner: Box::pin(future),
            flag: Arc::new(Flag {
                woken: AtomicBool::new(false),
                waker: Mutex::new(Waker::noop().clone()),
            }),
        }
    }
}

/// The waker every part of a driven operation gets: remembers that one
/// woke (whenever it was handed out) and wakes the operation's task.
struct Flag {
    woken: AtomicBool,
    waker: Mutex<Waker>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        lock(&self.waker).wake_by_ref();
    }
}

/// A future or stream run by [`Batcher::drive`].
pub struct Driven<F> {
    batcher: Arc<Batcher>,
    inner: Pin<Box<F>>,
    flag: Arc<Flag>,
}

impl<F: Future> Future for Driven<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.batcher
            .step(cx, &this.flag, |cx| this.inner.as_mut().poll(cx))
    }
}

impl<S: Stream> Stream for Driven<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        this.batcher
            .step(cx, &this.flag, |cx| this.inner.as_mut().poll_next(cx))
    }
}
