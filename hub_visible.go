package main

// Which agents have an inbox on screen: an inbox sends
// {"command":"visibility","visible":bool} on its room socket when the
// page is shown or hidden (document.visibilitychange); a new inbox counts
// as visible until it says otherwise. Push goes only to agents with no
// visible inbox (push_notify.go).

// setVisibleLocked records c's visibility; h.mu is held.
func (h *Hub) setVisibleLocked(c *subscriber, v bool) {
	if c.visible == v {
		return
	}
	c.visible = v
	if v {
		h.visible[c.agentID]++
	} else if h.visible[c.agentID]--; h.visible[c.agentID] <= 0 {
		delete(h.visible, c.agentID)
	}
}

// SetVisible records an inbox's visibility; a socket no longer in the hub
// is ignored.
func (h *Hub) SetVisible(c *subscriber, v bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.all[c]; !ok || c.kind != roomSocket || !c.admin {
		return
	}
	h.setVisibleLocked(c, v)
}

// InboxVisible reports whether the agent has an inbox on screen.
func (h *Hub) InboxVisible(agentID int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.visible[agentID] > 0
}
