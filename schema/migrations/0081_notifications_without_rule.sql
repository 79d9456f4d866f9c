-- A level of an escalation policy reached notifies its targets' channels
-- without a notification rule of its own (an escalation started by hand has
-- none): those notifications carry no rule id.
ALTER TABLE notifications ALTER COLUMN rule_id DROP NOT NULL;
