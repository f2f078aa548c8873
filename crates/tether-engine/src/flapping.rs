//! Self-heal flapping: when another controller keeps undoing what tether puts
//! back, healing at once every time would loop hot. After `FREE_HEALS` heals
//! within `WINDOW`, each further heal waits twice as long as the last (from
//! `FIRST_BACKOFF`, up to `MAX_BACKOFF`), and the app says who it is fighting.
//! Pure: the caller passes the time in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(60);
pub const FREE_HEALS: usize = 3;
pub const FIRST_BACKOFF: Duration = Duration::from_secs(2);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Live matching Git this long, uninterrupted, ends a fight.
pub const CALM: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Clone)]
pub struct Heals {
    recent: VecDeque<Instant>,
    /// The manager that drifted the app last.
    pub manager: String,
    /// Since when live has matched Git without a break.
    calm_since: Option<Instant>,
}

/// What to do about a drift that self-heal would correct.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Heal,
    /// Flapping: wait this long before the next heal.
    Wait(Duration),
}

impl Heals {
    /// Heals in the window, oldest dropped.
    fn prune(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > WINDOW)
        {
            self.recent.pop_front();
        }
    }

    pub fn verdict(&mut self, now: Instant) -> Verdict {
        self.prune(now);
        let n = self.recent.len();
        if n < FREE_HEALS {
            return Verdict::Heal;
        }
        let exp = (n - FREE_HEALS).min(16) as u32;
        let backoff = FIRST_BACKOFF.saturating_mul(1 << exp).min(MAX_BACKOFF);
        let last = *self.recent.back().expect("n >= FREE_HEALS > 0");
        let ready = last + backoff;
        if now >= ready {
            Verdict::Heal
        } else {
            Verdict::Wait(ready - now)
        }
    }

    pub fn healed(&mut self, now: Instant, manager: &str) {
        self.recent.push_back(now);
        self.manager = manager.to_string();
    }

    /// Live matches Git now. Right after a heal it always does, so only a
    /// calm that lasts `CALM` forgets the fight.
    pub fn calm(&mut self, now: Instant) {
        let since = *self.calm_since.get_or_insert(now);
        if now.duration_since(since) >= CALM {
            self.recent.clear();
        }
    }

    /// Live drifted again.
    pub fn stirred(&mut self) {
        self.calm_since = None;
    }

    /// Flapping now: more heals in the window than the free ones.
    pub fn flapping(&mut self, now: Instant) -> bool {
        self.prune(now);
        self.recent.len() >= FREE_HEALS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_heals_then_doubling_waits_then_calm() {
        let t0 = Instant::now();
        let mut h = Heals::default();
        for i in 0..FREE_HEALS {
            assert_eq!(h.verdict(t0), Verdict::Heal, "heal {i} is free");
            h.healed(t0, "hpa");
        }
        assert!(h.flapping(t0));
        assert_eq!(h.verdict(t0), Verdict::Wait(FIRST_BACKOFF));
        let t1 = t0 + FIRST_BACKOFF;
        assert_eq!(h.verdict(t1), Verdict::Heal);
        h.healed(t1, "hpa");
        assert_eq!(h.verdict(t1), Verdict::Wait(FIRST_BACKOFF * 2), "doubles");
        // A quiet minute forgets it all.
        let later = t1 + WINDOW + Duration::from_secs(1);
        assert_eq!(h.verdict(later), Verdict::Heal);
        assert!(!h.flapping(later));
        assert_eq!(h.manager, "hpa");
    }

    #[test]
    fn only_a_lasting_calm_ends_a_fight() {
        let t0 = Instant::now();
        let mut h = Heals::default();
        for _ in 0..FREE_HEALS {
            h.healed(t0, "hpa");
        }
        h.calm(t0);
        h.calm(t0 + CALM / 2);
        assert!(
            h.flapping(t0 + CALM / 2),
            "a short calm right after a heal changes nothing"
        );
        h.stirred();
        h.calm(t0 + CALM);
        assert!(
            h.flapping(t0 + CALM),
            "the calm restarted when live drifted again"
        );
        h.calm(t0 + CALM * 2);
        assert!(!h.flapping(t0 + CALM * 2));
    }

    #[test]
    fn the_wait_is_capped() {
        let t0 = Instant::now();
        let mut h = Heals::default();
        for _ in 0..40 {
            h.healed(t0, "x");
        }
        assert_eq!(h.verdict(t0), Verdict::Wait(MAX_BACKOFF));
    }
}
