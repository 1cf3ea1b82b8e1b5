package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The settings' retention field: it shows the stored value, saves a new
// one, and shows the server's field error for an impossible one without
// changing anything.
func TestBrowserSettingsRetention(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t)
	admin := ts.client().signup("acme")
	tab := pagesSettingsTab(t, browser, ts.URL, "acme")
	tab.waitJS("the retention field", `document.getElementById("retentionDays").value === "0"`, 5*time.Second)

	tab.run(pagesFill("retentionDays", "90"), chromedp.Click(chromedp.CSS(`#retention-form button[type="submit"]`)))
	tab.waitJS("saved", `document.getElementById("retention-saved").textContent.includes("Saved")`, 5*time.Second)
	if got := admin.must(200, "GET", "/chatbot/api", nil).JSON["chatbot_details"].(map[string]any)["retentionDays"]; got != float64(90) {
		t.Fatalf("stored retentionDays %v, want 90", got)
	}

	tab.run(pagesFill("retentionDays", "5000"), chromedp.Click(chromedp.CSS(`#retention-form button[type="submit"]`)))
	tab.waitJS("the field error", `document.getElementById("retentionDays-error").textContent.includes("3650") &&
		document.getElementById("retentionDays").getAttribute("aria-invalid") === "true"`, 5*time.Second)
	if got := admin.must(200, "GET", "/chatbot/api", nil).JSON["chatbot_details"].(map[string]any)["retentionDays"]; got != float64(90) {
		t.Errorf("a refused save changed retentionDays to %v", got)
	}

	// Reloaded, the page shows the stored value.
	tab.run(chromedp.Navigate(ts.URL + "/settings"))
	tab.waitJS("the stored value", `document.getElementById("retentionDays").value === "90"`, 5*time.Second)
}
