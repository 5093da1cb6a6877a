/*
 * statistics.h - Statistics, ofcmon class=6 (the Installation Guide's
 * process table: log <node>_stt.log). monitor/main.c runs the common
 * lifecycle (ofc_proc) and calls these hooks when started with class=6.
 */
#ifndef STATISTICS_H
#define STATISTICS_H

struct ofc_proc;

/* After connecting: prepares, starts the metrics endpoint when configured. 0 or -1. */
int statistics_init(struct ofc_proc *proc);
/* Every wake-up: takes a snapshot when its interval has passed. 0 or -1 (logged, survived). */
int statistics_work(struct ofc_proc *proc);
/* Parameters were re-read. */
void statistics_refresh(struct ofc_proc *proc);
void statistics_cleanup(struct ofc_proc *proc);

#endif
