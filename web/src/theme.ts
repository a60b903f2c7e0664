/**
 * Light and dark themes: the system's choice until the user picks one (kept in localStorage:
 * a preference, nothing secret).
 */
const KEY = 'gantry.theme';

/** The theme in force. */
export function currentTheme(): 'light' | 'dark' {
  const chosen = localStorage.getItem(KEY);
  if (chosen === 'light' || chosen === 'dark') return chosen;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** Sets the page's theme attribute from the choice (or the system). */
export function applyTheme(): void {
  document.documentElement.dataset.theme = currentTheme();
}

/** Switches to the other theme and remembers it. */
export function toggleTheme(): void {
  localStorage.setItem(KEY, currentTheme() === 'dark' ? 'light' : 'dark');
  applyTheme();
}
