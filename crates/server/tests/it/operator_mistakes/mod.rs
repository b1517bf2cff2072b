//! Mistakes operators make and routine operations they run, the way README and
//! docs/OPERATIONS.md say (issue 19): each mistake is refused clearly, with no split, no merge,
//! no lost write and no change of state, and health tells the truth; one test (or a few) per
//! item, each against real `trentd` processes, each checked to fail on the code before its
//! fix. Subnets 193 (wiped_node), 212 and 219 (rolling_restart), 241-246 (impostor, foreign_data_dir, domain_key).

mod domain_key;
mod foreign_data_dir;
mod health;
mod impostor;
mod rolling_restart;
mod wiped_node;
