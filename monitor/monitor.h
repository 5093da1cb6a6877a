/*
 * monitor.h - the Monitor, ofcmon class=5 (log <node>_mon.log): runs the
 * planning guide's tests and mails reports to ORAPOST. monitor/main.c
 * runs the common lifecycle and calls these hooks when started with
 * class=5.
 */
#ifndef MONITOR_H
#define MONITOR_H

struct ofc_proc;

int monitor_init(struct ofc_proc *proc);
int monitor_work(struct ofc_proc *proc);
void monitor_notify(struct ofc_proc *proc, const char *channel, const char *payload);
void monitor_refresh(struct ofc_proc *proc);
void monitor_cleanup(struct ofc_proc *proc);

#endif
