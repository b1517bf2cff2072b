//! What an operator's mistakes and routine operations must not do to the cluster (issue 19):
//! one test (or a few) per mistake, each against real `trentd` processes, each checked to
//! fail on the code before its fix.

mod health;
mod rolling_restart;
