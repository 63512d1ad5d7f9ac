//! Kantata stories: tasks on every project, billing milestones on milestone projects (their
//! amounts sum to the contract), a non-billing go-live milestone on some others.

use chrono::{Duration, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{Billing, Firm, Project, rng_for};
use crate::generate::calendar::as_of;
use crate::generate::reference::TASK_TITLES;

/// A Kantata story: a task or a milestone.
#[derive(Debug, Clone)]
pub(crate) struct Story {
    pub(crate) id: u64,
    pub(crate) project: usize,
    pub(crate) title: String,
    pub(crate) milestone: bool,
    pub(crate) state: &'static str,
    pub(crate) due: NaiveDate,
    pub(crate) accepted: Option<NaiveDate>,
    pub(crate) billing_cents: Option<i64>,
    pub(crate) modified: NaiveDate,
}

impl Firm {
    /// Tasks on every project, milestones (with billing amounts) on milestone projects.
    pub(super) fn build_stories(&mut self) {
        let mut next = 702_330_001u64;
        let mut any_rejected = false;
        for pi in 0..self.projects.len() {
            let p = &self.projects[pi];
            if p.internal {
                continue;
            }
            let mut rng = rng_for(self.seed, "stories", pi as u64);
            let n_tasks = rng.random_range(3..=6usize);
            let span = (p.end - p.start).num_days().max(7);
            let first_task = rng.random_range(0..TASK_TITLES.len() - n_tasks + 1);
            let mut out = Vec::new();
            for k in 0..n_tasks {
                let due = p.start + Duration::days(span * (k as i64 + 1) / n_tasks as i64);
                let (state, accepted) = story_state(&mut rng, p, due, false);
                out.push((
                    TASK_TITLES[first_task + k].to_owned(),
                    false,
                    state,
                    due,
                    accepted,
                    None,
                ));
            }
            if p.billing == Billing::Milestone && p.logs_time {
                let n_ms = rng.random_range(3..=5usize);
                let total_cents = (p.contract * 100.0).round() as i64;
                let mut left = total_cents;
                for k in 0..n_ms {
                    let due = p.start + Duration::days(span * (k as i64 + 1) / n_ms as i64);
                    let cents = if k + 1 == n_ms {
                        left
                    } else {
                        ((total_cents / n_ms as i64) / 100) * 100
                    };
                    left -= cents;
                    let (state, accepted) = story_state(&mut rng, p, due, true);
                    out.push((
                        format!("Milestone {} sign-off", k + 1),
                        true,
                        state,
                        due,
                        accepted,
                        Some(cents),
                    ));
                }
            } else if !p.logs_time || rng.random_bool(0.3) {
                // A non-billing go-live milestone on other projects.
                let due = p.end;
                let (state, accepted) = story_state(&mut rng, p, due, true);
                out.push(("Go-live".to_owned(), true, state, due, accepted, None));
            }
            for (title, milestone, state, due, accepted, billing_cents) in out {
                any_rejected |= state == "rejected";
                let modified = accepted
                    .unwrap_or(due.min(as_of()))
                    .max(p.start.min(as_of()))
                    .min(as_of());
                self.stories.push(Story {
                    id: next,
                    project: pi,
                    title,
                    milestone,
                    state,
                    due,
                    accepted,
                    billing_cents,
                    modified,
                });
                next += 1;
            }
        }
        if !any_rejected
            && let Some(s) = self
                .stories
                .iter_mut()
                .find(|s| !s.milestone && s.state == "completed")
        {
            s.state = "rejected";
        }
    }
}

fn story_state(
    rng: &mut ChaCha8Rng,
    p: &Project,
    due: NaiveDate,
    milestone: bool,
) -> (&'static str, Option<NaiveDate>) {
    if !p.logs_time {
        return ("not started", None);
    }
    let stop = p.hold_from.unwrap_or(p.end);
    if due <= as_of() - Duration::days(10) && due <= stop + Duration::days(10) {
        let r: f64 = rng.random();
        if milestone {
            if r < 0.85 {
                let acc = (due + Duration::days(rng.random_range(0..10))).min(as_of());
                ("accepted", Some(acc))
            } else if r < 0.95 {
                ("completed", None)
            } else {
                ("rejected", None)
            }
        } else if r < 0.5 {
            let acc = (due + Duration::days(rng.random_range(0..7))).min(as_of());
            ("accepted", Some(acc))
        } else if r < 0.96 {
            ("completed", None)
        } else {
            ("rejected", None)
        }
    } else if due <= as_of() + Duration::days(30) && p.start <= as_of() {
        ("started", None)
    } else {
        ("not started", None)
    }
}
