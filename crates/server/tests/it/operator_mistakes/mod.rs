//! Operator mistakes (issue 19) that must not split, wipe or silently corrupt the cluster.

mod wiped_node;
