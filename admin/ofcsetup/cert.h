/*
 * cert.h - ofcsetup cert: the Configuration Assistant's "Certify SSL" and
 * "Store SSL Certificate" utilities.
 *
 * cert has options of its own (the certificate's subject, files), so
 * main.c hands it the whole command line instead of its parsed options.
 * Private to ofcsetup.
 */
#ifndef OFCSETUP_CERT_H
#define OFCSETUP_CERT_H

/*
 * Runs `ofcsetup [-c CONFIG] cert generate|store|show [options]`: parses
 * argv itself (getopt must not have run yet) and returns the exit status
 * (SETUP_EXIT_*). Unlike the other commands it keeps root's privileges,
 * so that `store` can give the installed files to the run user.
 */
int cert_main(int argc, char **argv);

#endif
