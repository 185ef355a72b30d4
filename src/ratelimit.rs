//! Client-side rate limits, so a burst of cases queues instead of failing upstream.
//!
//! A [`Pacer`] hands out send times at a steady rate (the generic cell rate algorithm): each
//! caller reserves the next free slot, in the order they asked, with a small burst allowance.
//! When the upstream says "slow down" (`Retry-After`) the pacer pauses everyone. The same
//! pacer, asked without waiting ([`Pacer::try_now`]), limits the bridge's own callers.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Paces calls to one rate.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    interval: Duration,
    /// How far ahead of the steady pace a burst may go.
    tolerance: Duration,
    /// The theoretical time the next call may go at the steady pace.
    next: Instant,
    /// Nobody goes before this (the upstream asked to wait).
    paused_until: Instant,
}

impl Pacer {
    /// `per_second` calls a second on average, up to `burst` at once.
    pub fn new(per_second: f64, burst: u32) -> Self {
        let (interval, tolerance) = shape(per_second, burst);
        Self {
            state: Mutex::new(State {
                interval,
                tolerance,
                next: Instant::now(),
                paused_until: Instant::now(),
            }),
        }
    }

    /// At most `per_minute` calls in any 60 seconds: a burst of a second's worth, and a steady
    /// rate that leaves room for it.
    pub fn per_minute(per_minute: u32) -> Self {
        let (per_second, burst) = minute_budget(per_minute);
        Self::new(per_second, burst)
    }

    /// Lowers the budget to `per_minute` if that is below the current one (the upstream said
    /// what the plan allows).
    pub fn lower_to_per_minute(&self, per_minute: u32) {
        let (per_second, burst) = minute_budget(per_minute);
        let (interval, tolerance) = shape(per_second, burst);
        let mut st = self.lock();
        if interval > st.interval {
            st.interval = interval;
            st.tolerance = tolerance;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves the first free slot if it is not later than `deadline` (`None`: now);
    /// otherwise reserves nothing and returns the wait it would have needed.
    fn reserve(&self, deadline: Option<Instant>) -> Result<Instant, Duration> {
        let mut st = self.lock();
        let now = Instant::now();
        let deadline = deadline.unwrap_or(now);
        let at = st
            .next
            .checked_sub(st.tolerance)
            .unwrap_or(now)
            .max(now)
            .max(st.paused_until);
        if at > deadline {
            return Err(at - now);
        }
        st.next = st.next.max(at) + st.interval;
        Ok(at)
    }

    /// Takes a slot if one is free now; otherwise takes nothing and says how long until one is.
    pub fn try_now(&self) -> Result<(), Duration> {
        self.reserve(None).map(drop)
    }

    /// Nothing is reserved ahead: forgetting this pacer would change nothing.
    fn is_idle(&self) -> bool {
        let st = self.lock();
        let now = Instant::now();
        st.next <= now && st.paused_until <= now
    }

    /// Waits for this call's slot. If the slot is later than `deadline`, nothing is reserved
    /// and the wait it would have needed is returned instead.
    pub async fn acquire(&self, deadline: Instant) -> Result<(), Duration> {
        let at = self.reserve(Some(deadline))?;
        // A free slot goes at once: tokio's timer rounds every deadline up to its next
        // millisecond tick, so even a sleep until now would hold each call ~1 ms.
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
        // A pause that began while this call waited (a 429 meanwhile) holds it back too.
        loop {
            let paused_until = self.lock().paused_until;
            if Instant::now() >= paused_until {
                return Ok(());
            }
            tokio::time::sleep_until(paused_until).await;
        }
    }

    /// Nobody goes before `wait` from now (the upstream said so).
    pub fn pause(&self, wait: Duration) {
        let mut st = self.lock();
        st.paused_until = st.paused_until.max(Instant::now() + wait);
    }
}

/// Retry timing: exponential backoff with full jitter, uniform in
/// [`floor`, min(`max`, `base`·2^`exponent`)].
pub(crate) fn jittered_backoff(
    base: Duration,
    max: Duration,
    exponent: u32,
    floor: Duration,
) -> Duration {
    let cap = base
        .saturating_mul(1u32.checked_shl(exponent.min(20)).unwrap_or(u32::MAX))
        .min(max)
        .max(floor);
    let ms = rand::Rng::gen_range(
        &mut rand::thread_rng(),
        floor.as_millis() as u64..=cap.as_millis() as u64,
    );
    Duration::from_millis(ms)
}

/// (interval, tolerance) for a rate and burst.
fn shape(per_second: f64, burst: u32) -> (Duration, Duration) {
    let interval = Duration::from_secs_f64(1.0 / per_second.max(1e-6));
    (interval, interval.saturating_mul(burst.max(1) - 1))
}

/// (steady rate per second, burst) so that no 60-second window holds more than `per_minute`.
fn minute_budget(per_minute: u32) -> (f64, u32) {
    let per_minute = per_minute.max(2);
    let burst = (per_minute / 60).max(1);
    (f64::from(per_minute - burst) / 60.0, burst)
}

/// Keys tracked before idle pacers are forgotten (see [`KeyedPacer::get`]).
const PRUNE_FLOOR: usize = 1024;

/// One [`Pacer`] per key (IM limits each REST command separately; the bridge limits each
/// client address).
#[derive(Debug)]
pub struct KeyedPacer<K = &'static str> {
    per_second: f64,
    burst: u32,
    pacers: Mutex<Pacers<K>>,
}

#[derive(Debug)]
struct Pacers<K> {
    map: HashMap<K, Arc<Pacer>>,
    /// Size at which idle pacers are forgotten next.
    prune_at: usize,
}

impl<K: Hash + Eq> KeyedPacer<K> {
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self {
            per_second,
            burst,
            pacers: Mutex::new(Pacers {
                map: HashMap::new(),
                prune_at: PRUNE_FLOOR,
            }),
        }
    }

    /// The key's pacer. Keys can be many (client addresses), so once the map has grown, pacers
    /// that nobody holds and that have nothing reserved are forgotten: a new one for the same
    /// key behaves the same.
    pub fn get(&self, key: K) -> Arc<Pacer> {
        let mut p = self.pacers.lock().unwrap_or_else(|e| e.into_inner());
        if p.map.len() >= p.prune_at {
            p.map
                .retain(|_, pacer| Arc::strong_count(pacer) > 1 || !pacer.is_idle());
            p.prune_at = (p.map.len() * 2).max(PRUNE_FLOOR);
        }
        p.map
            .entry(key)
            .or_insert_with(|| Arc::new(Pacer::new(self.per_second, self.burst)))
            .clone()
    }

    /// How many keys are tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.pacers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_are_paced_after_the_burst() {
        let pacer = Pacer::new(10.0, 3);
        let start = Instant::now();
        let far = start + Duration::from_secs(60);
        let mut times = Vec::new();
        for _ in 0..6 {
            pacer.acquire(far).await.unwrap();
            times.push(start.elapsed());
        }
        let ms: Vec<u128> = times.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![0, 0, 0, 100, 200, 300]);
    }

    /// On the real clock: a call within the burst goes on its first poll, without a timer
    /// (which would hold it until the next millisecond tick).
    #[tokio::test]
    async fn a_free_slot_goes_at_once() {
        use futures_util::FutureExt;
        let pacer = Pacer::new(10.0, 3);
        let far = Instant::now() + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(pacer.acquire(far).now_or_never(), Some(Ok(())));
        }
        assert_eq!(
            pacer.acquire(far).now_or_never(),
            None,
            "past the burst it waits"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_past_the_deadline_is_not_taken() {
        let pacer = Pacer::new(1.0, 1);
        let now = Instant::now();
        pacer.acquire(now).await.unwrap();
        let wait = pacer
            .acquire(now + Duration::from_millis(500))
            .await
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        // The refused call reserved nothing: the next one still gets the first free slot.
        pacer.acquire(now + Duration::from_secs(2)).await.unwrap();
        assert_eq!(now.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_calls_already_waiting() {
        let pacer = std::sync::Arc::new(Pacer::new(1.0, 1));
        let start = Instant::now();
        pacer
            .acquire(start + Duration::from_secs(60))
            .await
            .unwrap();
        let waiting = {
            let pacer = pacer.clone();
            tokio::spawn(async move { pacer.acquire(start + Duration::from_secs(60)).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        pacer.pause(Duration::from_secs(10)); // its slot was at 1 s
        waiting.await.unwrap().unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(10_100),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn try_now_refuses_beyond_the_burst_and_recovers() {
        let pacer = Pacer::new(2.0, 2);
        assert_eq!(pacer.try_now(), Ok(()));
        assert_eq!(pacer.try_now(), Ok(()));
        assert_eq!(pacer.try_now(), Err(Duration::from_millis(500)));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(pacer.try_now(), Ok(()));
        assert_eq!(pacer.try_now(), Err(Duration::from_millis(500)));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_keys_are_forgotten_busy_ones_kept() {
        let pacers = KeyedPacer::<u32>::new(1.0, 1);
        pacers.get(0).try_now().unwrap(); // reserved a second ahead: not idle
        let held = pacers.get(1); // held by someone
        for k in 2..PRUNE_FLOOR as u32 {
            pacers.get(k);
        }
        tokio::time::advance(Duration::from_millis(10)).await;
        pacers.get(u32::MAX); // the map is full: prune
        assert_eq!(pacers.len(), 3, "0 (busy), 1 (held) and the new key");
        assert_eq!(pacers.get(0).try_now(), Err(Duration::from_millis(990)));
        drop(held);
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_everyone_back() {
        let pacer = Pacer::new(100.0, 10);
        let now = Instant::now();
        pacer.pause(Duration::from_secs(7));
        pacer.acquire(now + Duration::from_secs(60)).await.unwrap();
        assert_eq!(now.elapsed(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn no_minute_ever_holds_more_than_the_budget() {
        let pacer = Pacer::per_minute(700);
        let start = Instant::now();
        let far = start + Duration::from_secs(3600);
        let mut sent = Vec::new();
        for _ in 0..2100 {
            pacer.acquire(far).await.unwrap();
            sent.push(start.elapsed());
        }
        // Slide a 60 s window over every send time.
        let window = Duration::from_secs(60);
        let worst = (0..sent.len())
            .map(|i| {
                sent[i..]
                    .iter()
                    .take_while(|t| **t < sent[i] + window)
                    .count()
            })
            .max()
            .unwrap();
        assert!(worst <= 700, "{worst} calls in one minute");
        assert!(worst >= 690, "the budget is used, not wasted: {worst}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_can_be_lowered_but_not_raised() {
        let pacer = Pacer::per_minute(6000);
        pacer.lower_to_per_minute(120);
        pacer.lower_to_per_minute(100_000);
        let start = Instant::now();
        for _ in 0..10 {
            pacer
                .acquire(start + Duration::from_secs(60))
                .await
                .unwrap();
        }
        // 120/min: a burst of 2, then one call per 60/118 s.
        assert!(
            start.elapsed()
                >= Duration::from_secs_f64(8.0 * 60.0 / 118.0) - Duration::from_millis(1)
        );
    }
}
