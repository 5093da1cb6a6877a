-- 014_inline_small_messages.sql: small messages live in the table row.
--
-- raw is STORAGE EXTERNAL (004, 005) so that BODY[]<partial> and POP3's
-- chunked RETR read only the TOAST chunks they need. But with the
-- default toast_tuple_target (about 2 KB) every ordinary message was
-- moved out of line: a 4 KiB message cost a row, two TOAST chunks and a
-- TOAST index entry, and the insert took about a third longer than with
-- the message in its row. Rows up to a page stay whole now; larger
-- messages still go out of line, uncompressed, in chunks.
ALTER TABLE message SET (toast_tuple_target = 8160);
ALTER TABLE gateway_in SET (toast_tuple_target = 8160);
