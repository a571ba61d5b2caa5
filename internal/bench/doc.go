// Package bench runs ferry's transport duel: the same workloads (connection
// setup, echo round trips, one large file, many small files, parallel large
// files) over plain TCP, TLS 1.3 and QUIC against one ferry server, with trials
// interleaved across transports, and reports medians, spreads and the CPU
// both processes spent.
//
// It holds everything of "ferry bench" except the command line: the
// synthetic file set (Prepare), the scenarios (Run), the statistics
// (Summarize, Percentile), the record of the conditions (CollectConditions),
// the CPU accounting (SelfCPU, ProcessCPU), and the report as a table, JSON and
// a chart (Report). docs/benchmarks.md describes the method and the results.
package bench
